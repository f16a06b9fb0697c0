"""Performance metrics of a run (backtest, paper or live): pure functions of its round trips and
its equity curve. Each metric's definition is next to it; money is in quote currency (USDC),
returns are fractions (0.05 is 5%), times are epoch ms.

A round trip is a dict with entry_t, exit_t, pnl (net of fees, slippage and funding), fees,
funding (received; negative when paid) and slippage (its cost in USDC). The equity curve is
equity sampled at every candle close of the run's timeframe, the first value being the capital.
"""

from __future__ import annotations

import math

import numpy as np

from .timeutil import DAY_MS, HOUR_MS

YEAR_MS = 365.25 * DAY_MS           # crypto trades every day of the year


def periods_per_year(tf_ms: int) -> float:
    """How many candles of this timeframe make a year: a 15m candle is 1/35,064 of a year,
    not a day, so Sharpe and Sortino are annualised by sqrt(35,064) for 15m returns."""
    return YEAR_MS / tf_ms


def sharpe(returns: np.ndarray, tf_ms: int) -> float | None:
    """Mean over sample standard deviation (ddof=1) of per-candle returns, times the square root
    of the candles in a year; risk-free rate 0. None when undefined (fewer than 2 returns or no
    variation)."""
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if sd == 0:
        return None
    return float(np.mean(returns)) / sd * math.sqrt(periods_per_year(tf_ms))


def sortino(returns: np.ndarray, tf_ms: int) -> float | None:
    """Mean over downside deviation of per-candle returns, annualised as Sharpe. The downside
    deviation is sqrt(mean(min(r, 0)^2)) over all candles (target 0)."""
    if len(returns) < 2:
        return None
    dd = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if dd == 0:
        return None
    return float(np.mean(returns)) / dd * math.sqrt(periods_per_year(tf_ms))


def drawdown(t: np.ndarray, equity: np.ndarray) -> dict:
    """Max drawdown as a fraction of the running peak and in USDC (each its own maximum), and
    the longest drawdown's duration: from a peak to the first time equity is back at it (or the
    end of the run if it never is), in hours."""
    if len(equity) == 0:
        return {"max_drawdown_pct": 0.0, "max_drawdown_usd": 0.0, "max_drawdown_hours": 0.0}
    peak = np.maximum.accumulate(equity)
    usd = peak - equity
    pct = usd / peak
    longest = 0
    start = None
    for i in range(len(equity)):
        if equity[i] < peak[i]:
            if start is None:
                start = i - 1 if i > 0 else 0
        elif start is not None:
            longest = max(longest, int(t[i] - t[start]))
            start = None
    if start is not None:
        longest = max(longest, int(t[-1] - t[start]))
    return {"max_drawdown_pct": float(pct.max()), "max_drawdown_usd": float(usd.max()),
            "max_drawdown_hours": longest / HOUR_MS}


def summary(trips: list[dict], t: np.ndarray, equity: np.ndarray, tf_ms: int) -> dict:
    """Every metric of a run (see each line's comment for its definition)."""
    t = np.asarray(t, dtype=np.int64)
    equity = np.asarray(equity, dtype=float)
    pnl = np.array([x["pnl"] for x in trips], dtype=float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    capital = float(equity[0]) if len(equity) else 0.0
    final = float(equity[-1]) if len(equity) else 0.0
    span_ms = int(t[-1] - t[0]) if len(t) > 1 else 0
    years = span_ms / YEAR_MS
    total_return = final / capital - 1.0 if capital else 0.0
    # CAGR: the yearly rate that compounds capital into the final equity over the run's span
    cagr = (final / capital) ** (1.0 / years) - 1.0 if years > 0 and capital > 0 and final > 0 \
        else None
    returns = np.diff(equity) / equity[:-1] if len(equity) > 1 else np.zeros(0)
    dd = drawdown(t, equity)
    held = sum(x["exit_t"] - x["entry_t"] for x in trips)
    return {
        "trades": len(trips),
        "win_rate": float(len(wins) / len(pnl)) if len(pnl) else None,   # share of trips > 0
        "expected_value": float(pnl.mean()) if len(pnl) else None,      # mean net PnL a trip
        # gross wins over gross losses; None without losses (or without trades)
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
        "total_pnl": float(pnl.sum()),
        "total_return": total_return,                                   # final / capital - 1
        "cagr": cagr,
        "sharpe": sharpe(returns, tf_ms),
        "sortino": sortino(returns, tf_ms),
        **dd,
        # CAGR over the max drawdown fraction
        "calmar": cagr / dd["max_drawdown_pct"] if cagr is not None and dd["max_drawdown_pct"] > 0
        else None,
        "avg_holding_hours": held / len(trips) / HOUR_MS if trips else None,
        "exposure": held / span_ms if span_ms else 0.0,                 # share of time in a trade
        "fees": float(sum(x["fees"] for x in trips)),                   # paid
        "funding": float(sum(x["funding"] for x in trips)),             # received (< 0: paid)
        "slippage": float(sum(x["slippage"] for x in trips)),           # cost
    }
