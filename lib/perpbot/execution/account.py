"""One symbol's account, simulated a candle at a time: the position, pending entries, the risk
state and equity. It is the account model of a replay (`risk-gate --replay`) and of the backtest
(`backtest/engine.py` steps it); paper and live keep theirs in the store's ledger, filled by the
same cost model (execution.costs) and gated by the same rules (risk.gate).

`Simulator.candle()`, in this order:

1. A delayed entry due at this candle's open (fill_at: open) fills there, if the signal that
   created it still held at the last close before (cancel_if_signal_gone).
2. An open position is checked against this candle's high and low for the on-exchange stop
   (exchange_stop_pct from its entry, active from the first candle after a fill at a close, or
   from the fill candle itself for a fill at an open); a hit exits at the stop price, taker.
3. At the close: the signal goes through risk.gate exactly as risk-gate decides live: capital
   stop, timeout, z-stop and take profit exit at the close; an entry signal fills at this close
   (entry_delay 0) or waits entry_delay candles and fills then if the same signal still holds.
   A delayed entry passes the risk checks at its fill, sized at its fill price.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .. import risk, signals
from ..params import StrategyParams
from ..rows import Position
from ..timeutil import DAY_MS, MINUTE_MS, interval_ms
from . import costs


def exchange_stop_price(side: str, entry: float, pct: float) -> float:
    """The on-exchange stop of a position: pct below a long's entry, above a short's."""
    return entry * (1 - pct if side == "long" else 1 + pct)


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


class Simulator:
    """One symbol's positions, pending entries and risk state, advanced a candle at a time.

    `candle()` returns the orders it filled (as intent records with the fill time in
    decided_at and the fill's reference price in price), so execute --mode replay records the same
    fills; it keeps the round trips itself.
    """

    def __init__(self, symbol: str, tf: str, setup: StrategyParams, sz_decimals: int, rates: dict,
                 mark_at: Callable[[int], float]):
        self.symbol, self.tf, self.setup, self.sz_decimals = symbol, tf, setup, sz_decimals
        self.iv = interval_ms(tf)
        self.rates, self.mark_at = rates, mark_at
        self.state = risk.RiskState(equity=setup.risk.capital)
        self.pos: Position | None = None
        self.pending: tuple[str, int, int] | None = None    # (action, due candle t, check t)
        self.res = Result(symbol, tf)
        self.prev_t: int | None = None
        self.level = "NORMAL"           # the regime at the last candle stepped
        self.equity_t: list[int] = []
        self.equity: list[float] = []

    # fills ------------------------------------------------------------------------------------

    def _enter(self, sig: dict, price: float, now: int, stop_from: int, out: list) -> None:
        got, self.state = risk.gate({**sig, "price": price}, now, self.state, self.setup.risk,
                                    self.setup.regime, self.sz_decimals)
        (rec,) = got
        if rec["type"] == "rejected":
            self.res.rejected[rec["reason"]] = self.res.rejected.get(rec["reason"], 0) + 1
            return
        f = costs.fill("open", rec["side"], rec["size"], price, rec["reason"], rec["cloid"],
                       self.setup.costs)
        self.pos = Position(self.symbol, rec["side"], rec["size"], f.price, now, f.fee,
                            rec["cloid"], abs(f.price - price) * rec["size"], rec["reason"],
                            stop_from)
        out.append({**rec, "price": price, "decided_at": now})

    def _exit(self, t: int, price: float, now: int, reason: str, out: list) -> None:
        pos = self.pos
        c = costs.close(pos, price, now, reason, risk.cloid(self.symbol, t, "close"),
                        self.setup.costs, self.rates, self.mark_at)
        f, funding, fees, pnl = c.fill, c.funding, c.fees, c.pnl
        self.res.missing_funding_hours += len(c.missing_hours)
        self.res.trips.append({
            "symbol": self.symbol, "side": pos.side, "size": pos.size, "entry_t": pos.t,
            "entry_price": pos.price, "exit_t": now, "exit_price": f.price, "exit_reason": reason,
            "entry_reason": pos.reason, "fees": fees, "funding": funding,
            "slippage": pos.slippage + abs(f.price - price) * pos.size, "pnl": pnl})
        day = now - now % DAY_MS
        st = self.state
        today = (st.realized_today if day == st.day else 0.0) + pnl
        cooldown = st.cooldown_until
        if reason in costs.STOP_EXITS:
            cooldown = now + int(self.setup.risk.cooldown_minutes * MINUTE_MS)
        self.state = replace(st, positions={}, equity=st.equity + pnl, realized_today=today,
                             day=day, cooldown_until=cooldown)
        self.pos = None
        out.append(risk.intent(self.symbol, t, now, "close", pos.side, pos.size, price, reason,
                               self.level, reason in costs.STOP_EXITS))

    # a candle ---------------------------------------------------------------------------------

    def candle(self, t: int, o: float, h: float, lo: float, c: float, level: str,
               decide: Callable[[str | None], "signals.Decision"]) -> list[dict]:
        """Advance over the candle opening at t; `decide(side)` is the signal's decision at its
        close with that position (None: flat)."""
        bt = self.setup.backtest
        now = t + self.iv
        self.level = level
        out: list[dict] = []
        # 1. a delayed entry due at this open (decided at the close before it)
        if self.pending is not None and bt.fill_at == "open" and self.pending[1] == t:
            action, _, _ = self.pending
            self.pending = None
            sig = self._signal(self.prev_t, action, "delayed entry", o, level)
            self._enter(sig, o, t, t, out)
        # 2. the exchange stop on this candle's range
        if self.pos is not None and t >= self.pos.stop_from:
            long = self.pos.side == "long"
            stop = exchange_stop_price(self.pos.side, self.pos.price, bt.exchange_stop_pct)
            if (long and lo <= stop) or (not long and h >= stop):
                self._exit(t, stop, now, "exchange_stop", out)
        # 3. the close
        decision = decide(self.pos.side if self.pos else None)
        sig = {**self._signal(t, decision.action, decision.reason, c, level),
               "exit": decision.exit, "stop_loss": decision.stop_loss}
        if self.pos is not None:
            self.state = replace(self.state, positions={self.symbol: self.pos})
            got, self.state = risk.gate(sig, now, self.state, self.setup.risk,
                                        self.setup.regime, self.sz_decimals)
            close = next((r for r in got if r["type"] == "intent" and r["action"] == "close"),
                         None)
            if close is not None:
                self._exit(t, c, now, close["reason"], out)
        elif self.pending is not None:
            action, due, check = self.pending
            if t == check and bt.cancel_if_signal_gone and decision.action != action:
                self.res.cancelled += 1
                self.pending = None
            elif t == due and bt.fill_at == "close":
                self.pending = None
                self._enter({**sig, "action": action}, c, now, t + self.iv, out)
        elif decision.action in ("LONG", "SHORT"):
            if bt.entry_delay == 0:
                self._enter(sig, c, now, t + self.iv, out)
            else:
                due = t + bt.entry_delay * self.iv
                check = due if bt.fill_at == "close" else due - self.iv
                self.pending = (decision.action, due, check)
        p = self.pos
        unreal = risk.unrealized(p, c) if p else 0.0
        self.equity_t.append(now)
        self.equity.append(self.state.equity + unreal)
        self.prev_t = t
        return out

    def skip(self, ts: np.ndarray, closes: np.ndarray) -> None:
        """Candles on which nothing can happen (the caller has made sure): their equity only."""
        if len(ts) == 0:
            return
        self.equity_t.extend((ts + self.iv).tolist())
        p = self.pos
        if p is None:
            self.equity.extend([self.state.equity] * len(ts))
        else:
            sign = 1.0 if p.side == "long" else -1.0
            self.equity.extend((self.state.equity + sign * (closes - p.price) * p.size).tolist())
        self.prev_t = int(ts[-1])

    def finish(self, t: int, c: float) -> list[dict]:
        """Close what is open at the last candle's close (t its open time)."""
        out: list[dict] = []
        if self.pos is not None:
            self._exit(t, c, t + self.iv, "backtest_end", out)
            self.equity[-1] = self.state.equity
        return out

    def result(self) -> Result:
        self.res.equity_t = np.array(self.equity_t, dtype=np.int64)
        self.res.equity = np.array(self.equity)
        return self.res

    def _signal(self, t, action, reason, price, level) -> dict:
        return {"symbol": self.symbol, "tf": self.tf, "t": t, "action": action,
                "reason": reason, "price": price, "regime": level}


def mark_function(closes_at: np.ndarray, closes: np.ndarray) -> Callable[[int], float]:
    """The close of the last candle closed by a time (the funding mark)."""
    at = closes_at.tolist()
    px = closes.tolist()

    def mark(hour: int) -> float:
        i = bisect.bisect_right(at, hour) - 1
        return px[max(i, 0)]
    return mark
