"""The backtest: one symbol's stored candles replayed through the functions the live stages use.

Indicators are computed once over the whole frame (a value at candle i uses candles up to i
only); then candle by candle, in this order:

1. A delayed entry due at this candle's open (fill_at: open) fills there, if the signal that
   created it still held at the last close before (cancel_if_signal_gone).
2. An open position is checked against this candle's high and low for the on-exchange stop
   (exchange_stop_pct from its entry, active from the first candle after the fill, or from the
   fill candle itself for an open fill); a hit exits at the stop price as a taker.
3. At the close: signals.decide (with the position, and the regime in force at the close) and
   risk.gate, exactly as emit-signals and risk-gate decide live: capital stop, timeout, z-stop
   and take profit exit at the close; an entry signal either fills at this close (entry_delay 0)
   or waits entry_delay candles, then fills if the same signal holds at that candle's close.
   A delayed entry passes the risk checks at its fill, sized at its fill price.

Fills go through execution.costs: maker at mid (the candle price) for entries and ordinary
exits, taker for stop exits, adverse slippage seeded by the order's cloid, and hourly funding by
side for every hour boundary crossed while open (a missing hour counts as zero and is counted).
A position still open at the end closes at the last close as `backtest_end`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import risk, signals
from ..execution import costs
from ..indicators import compute_arrays
from ..params import (BacktestParams, CostParams, IndicatorParams, RegimeConfig, RiskParams,
                      SignalParams)
from ..regime import RegimeBook
from ..timeutil import HOUR_MS, interval_ms

FIELDS = ("close", "z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")


@dataclass(frozen=True)
class Setup:
    """Everything a run depends on besides its data."""

    indicators: IndicatorParams = IndicatorParams()
    signals: SignalParams = SignalParams()
    risk: RiskParams = RiskParams()
    costs: CostParams = CostParams()
    regime: RegimeConfig = RegimeConfig()
    backtest: BacktestParams = BacktestParams()


@dataclass
class Open:
    side: str
    size: float
    price: float        # fill price
    t: int              # fill time
    index: int          # candle of the fill
    fee: float
    slippage: float     # cost in USDC
    reason: str
    stop_from: int      # first candle whose range can hit the exchange stop


@dataclass
class Result:
    symbol: str
    tf: str
    trips: list = field(default_factory=list)
    equity_t: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    equity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rejected: dict = field(default_factory=dict)        # check -> count
    cancelled: int = 0
    missing_funding_hours: int = 0
    regime_note: str = ""


def run(symbol: str, tf: str, candles: dict, funding_rows, book: RegimeBook, setup: Setup,
        lot_decimals: int) -> Result:
    """A backtest of one symbol. `candles` holds numpy columns t, o, h, l, c in time order."""
    iv = interval_ms(tf)
    t, o, h, lo, c = (np.asarray(candles[k]) for k in ("t", "o", "h", "l", "c"))
    n = len(t)
    ind = compute_arrays(h, lo, c, setup.indicators)
    cols = {k: ind[k].tolist() for k in FIELDS}
    rates = costs.hourly_rates(funding_rows)
    closes_at = t + iv                          # a candle's price is known at its close
    res = Result(symbol, tf, regime_note="no regime snapshots: the run is NORMAL throughout"
                 if book.empty else "")
    state = risk.RiskState(equity=setup.risk.capital)
    pos: Open | None = None
    pending: tuple[str, int, dict] | None = None       # (action, fill candle, signal)
    bt = setup.backtest
    equity = np.empty(n)
    thresholds: dict[str, signals.Thresholds] = {}

    def mark_at(hour: int) -> float:
        i = int(np.searchsorted(closes_at, hour, side="right")) - 1
        return float(c[max(i, 0)])

    def fill_entry(i: int, sig: dict, price: float, now: int, stop_from: int):
        """Pass the risk checks at the fill and open at `price` (the candle's close or open)."""
        nonlocal state, pos
        out, state = risk.gate({**sig, "price": price}, now, state, setup.risk, setup.regime,
                               lot_decimals)
        (rec,) = out
        if rec["type"] == "rejected":
            res.rejected[rec["reason"]] = res.rejected.get(rec["reason"], 0) + 1
            return
        f = costs.fill("open", rec["side"], rec["size"], price, rec["reason"], rec["cloid"],
                       setup.costs)
        pos = Open(rec["side"], rec["size"], f.price, now, i, f.fee,
                   abs(f.price - price) * rec["size"], rec["reason"], stop_from)

    def exit_position(i: int, price: float, now: int, reason: str, taker_reason: str):
        nonlocal state, pos
        cl = risk.cloid(symbol, int(t[i]), "close")
        f = costs.fill("close", pos.side, pos.size, price, taker_reason, cl, setup.costs)
        funding, missing = costs.funding_over(pos.side, pos.size, pos.t, now, rates, mark_at)
        res.missing_funding_hours += len(missing)
        fees = pos.fee + f.fee
        pnl = costs.realized_pnl(pos.side, pos.size, pos.price, f.price, fees, funding)
        res.trips.append({"symbol": symbol, "side": pos.side, "size": pos.size,
                          "entry_t": pos.t, "entry_price": pos.price, "exit_t": now,
                          "exit_price": f.price, "exit_reason": reason, "entry_reason": pos.reason,
                          "fees": fees, "funding": funding,
                          "slippage": pos.slippage + abs(f.price - price) * pos.size,
                          "pnl": pnl})
        day = now - now % 86_400_000
        today = state.realized_today + pnl if day == state.day else pnl
        state = replace(state, positions={}, equity=state.equity + pnl, realized_today=today,
                        day=day)
        pos = None

    for i in range(n):
        now = int(closes_at[i])
        # 1. a delayed entry due at this open (decided at the close before it)
        if pending is not None and bt.fill_at == "open" and pending[1] == i:
            action, _, sig = pending
            pending = None
            fill_entry(i, {**sig, "action": action, "t": int(t[i - 1])}, float(o[i]), int(t[i]), i)
        # 2. the exchange stop on this candle's range
        if pos is not None and i >= pos.stop_from:
            stop = pos.price * (1 - bt.exchange_stop_pct if pos.side == "long"
                                else 1 + bt.exchange_stop_pct)
            if (pos.side == "long" and lo[i] <= stop) or (pos.side == "short" and h[i] >= stop):
                exit_position(i, stop, now, "exchange_stop", "exchange_stop")
                state = replace(state, cooldown_until=now + int(
                    setup.risk.cooldown_minutes * 60_000))
        # 3. the close
        level = book.at(now)[0]
        th = thresholds.get(level) or thresholds.setdefault(level, signals.thresholds(
            setup.signals, level))
        row = {k: cols[k][i] for k in FIELDS}
        decision = signals.decide(row, pos.side if pos else None, th, setup.signals)
        sig = {"symbol": symbol, "tf": tf, "t": int(t[i]), "action": decision.action,
               "reason": decision.reason, "price": float(c[i]), "regime": level,
               "exit": decision.exit, "stop_loss": decision.stop_loss}
        if pos is not None:
            state = replace(state, positions={symbol: risk.Position(
                symbol, pos.side, pos.size, pos.price, pos.t)})
            out, state = risk.gate(sig, now, state, setup.risk, setup.regime, lot_decimals)
            for rec in out:
                if rec["type"] == "intent" and rec["action"] == "close":
                    exit_position(i, float(c[i]), now, rec["reason"], rec["reason"])
        elif pending is not None:
            action, due, _ = pending
            check = due if bt.fill_at == "close" else due - 1
            if i == check and bt.cancel_if_signal_gone and decision.action != action:
                res.cancelled += 1
                pending = None
            elif i == due and bt.fill_at == "close":
                pending = None
                fill_entry(i, {**sig, "action": action}, float(c[i]), now, i + 1)
        elif decision.action in ("LONG", "SHORT"):
            if bt.entry_delay == 0:
                fill_entry(i, sig, float(c[i]), now, i + 1)
            else:
                pending = (decision.action, i + bt.entry_delay, sig)
        unreal = risk.unrealized(risk.Position(symbol, pos.side, pos.size, pos.price, pos.t),
                                 float(c[i])) if pos else 0.0
        equity[i] = state.equity + unreal
    if pos is not None:
        exit_position(n - 1, float(c[-1]), int(closes_at[-1]), "backtest_end", "backtest_end")
        equity[-1] = state.equity
    res.equity_t = closes_at
    res.equity = equity
    return res
