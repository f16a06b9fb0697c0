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
DAYS_A_YEAR = 365                   # daily returns annualise by sqrt(365), calendar days
ANNUALISED_FROM_DAYS = 90           # CAGR and Calmar need this much history, else null


def daily_returns(t: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """The equity curve's returns over calendar days (UTC): the equity at the end of each day
    (its last sample at or before midnight) over the day before's, the first day measured from
    the first sample (the capital). Days without a sample repeat the equity before them, so a
    day without trading is a zero return, as the account's value did not move."""
    if len(t) < 2:
        return np.zeros(0)
    t = np.asarray(t, dtype=np.int64)
    first = int(t[0]) - int(t[0]) % DAY_MS + DAY_MS         # the first midnight after the start
    ends = np.arange(first, int(t[-1]) + DAY_MS, DAY_MS)     # every midnight, the last at/after t[-1]
    idx = np.searchsorted(t, ends, side="right") - 1
    closes = np.concatenate([[equity[0]], equity[idx]])
    return np.diff(closes) / closes[:-1]


def sharpe(returns: np.ndarray, periods: float = DAYS_A_YEAR) -> float | None:
    """Mean over sample standard deviation (ddof=1) of the returns, times the square root of
    `periods` a year (daily returns: 365); risk-free rate 0. As empyrical's sharpe_ratio (a test
    holds it to that). None when undefined (fewer than 2 returns or no variation)."""
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if sd == 0:
        return None
    return float(np.mean(returns)) / sd * math.sqrt(periods)


def sortino(returns: np.ndarray, periods: float = DAYS_A_YEAR) -> float | None:
    """Mean over downside deviation, annualised as Sharpe; the downside deviation is
    sqrt(mean(min(r, 0)^2)) over every return (target 0), as empyrical's sortino_ratio."""
    if len(returns) < 2:
        return None
    dd = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if dd == 0:
        return None
    return float(np.mean(returns)) / dd * math.sqrt(periods)


def drawdown(t: np.ndarray, equity: np.ndarray) -> dict:
    """Max drawdown as a fraction of the running peak (max_drawdown: 0.2 is 20%) and in USDC
    (each its own maximum), and the longest drawdown's duration: from a peak to the first time
    equity is back at it (or the end of the run if it never is), in hours."""
    if len(equity) == 0:
        return {"max_drawdown": 0.0, "max_drawdown_usd": 0.0, "max_drawdown_hours": 0.0}
    peak = np.maximum.accumulate(equity)
    usd = peak - equity
    pct = usd / peak
    # under water: each run of samples below their peak, from the peak before it to the first
    # sample back at a peak (or the end)
    edges = np.diff(np.concatenate([[0], (equity < peak).astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = 0
    if len(starts):
        back = t[np.minimum(ends, len(t) - 1)]
        longest = int((back - t[np.maximum(starts - 1, 0)]).max())
    return {"max_drawdown": float(pct.max()), "max_drawdown_usd": float(usd.max()),
            "max_drawdown_hours": longest / HOUR_MS}


def summary(trips: list[dict], t: np.ndarray, equity: np.ndarray) -> dict:
    """Every metric of a run (see each line's comment for its definition). Fractions are
    fractions (win_rate, return, max_drawdown, cagr, exposure: 0.05 is 5%); only human output
    shows percent. CAGR and Calmar are null below ANNUALISED_FROM_DAYS of history: a yearly rate
    from a few weeks says nothing a trader could defend."""
    t = np.asarray(t, dtype=np.int64)
    equity = np.asarray(equity, dtype=float)
    pnl = np.array([x["pnl"] for x in trips], dtype=float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    capital = float(equity[0]) if len(equity) else 0.0
    final = float(equity[-1]) if len(equity) else 0.0
    span_ms = int(t[-1] - t[0]) if len(t) > 1 else 0
    years = span_ms / YEAR_MS
    days = span_ms / DAY_MS
    total_return = final / capital - 1.0 if capital else 0.0
    # CAGR: the yearly rate that compounds capital into the final equity over the run's span
    cagr = (final / capital) ** (1.0 / years) - 1.0 \
        if days >= ANNUALISED_FROM_DAYS and capital > 0 and final > 0 else None
    daily = daily_returns(t, equity)
    dd = drawdown(t, equity)
    held = sum(x["exit_t"] - x["entry_t"] for x in trips)
    return {
        "trades": len(trips),
        "win_rate": float(len(wins) / len(pnl)) if len(pnl) else None,   # share of trips > 0
        "expected_value": float(pnl.mean()) if len(pnl) else None,      # mean net PnL a trip
        # gross wins over gross losses; None without losses (or without trades)
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
        "total_pnl": float(pnl.sum()),
        "return": total_return,                                         # final / capital - 1
        "days": days,                                                   # the run's span
        "annualised_from_days": ANNUALISED_FROM_DAYS,
        "cagr": cagr,
        # daily returns of the equity curve, annualised by sqrt(365)
        "sharpe": sharpe(daily),
        "sortino": sortino(daily),
        **dd,
        # CAGR over the max drawdown fraction
        "calmar": cagr / dd["max_drawdown"] if cagr is not None and dd["max_drawdown"] > 0
        else None,
        "avg_holding_hours": held / len(trips) / HOUR_MS if trips else None,
        "exposure": held / span_ms if span_ms else 0.0,                 # share of time in a trade
        "fees": float(sum(x["fees"] for x in trips)),                   # paid
        "funding": float(sum(x["funding"] for x in trips)),             # received (< 0: paid)
        "slippage": float(sum(x["slippage"] for x in trips)),           # cost
    }


def annualised_note(m: dict) -> str | None:
    """The human line a run too short for CAGR and Calmar gets."""
    if m.get("cagr") is None and m.get("days", 0) < m.get("annualised_from_days", 0):
        return (f"CAGR and Calmar not shown: {m['days']:.0f} days of history, a yearly rate "
                f"needs {m['annualised_from_days']}")
    return None
