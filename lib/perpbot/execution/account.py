"""Accounts simulated a candle at a time: each symbol's position and pending entry (a
Simulator), on one account shared by every symbol of the run (an Account: equity, open positions,
today's realized loss, the cooldown and the losing-weeks halt across symbols, as the trade loop
keeps them) or, with separate accounts, one each. It is the account model of a replay
(`risk-gate --replay`) and of the backtest (`backtest/engine.py` steps it); paper and live keep
theirs in the store's ledger, filled by the same cost model (execution.costs) and gated by the
same rules (risk.gate).

`Simulator.candle()`, in this order:

1. A delayed entry due at this candle's open (fill_at: open) fills there, if the signal that
   created it still held at the last close before (cancel_if_signal_gone).
2. An open position is checked against this candle's high and low for the on-exchange stop
   (exchange_stop_pct from its entry, active from the first candle after a fill at a close, or
   from the fill candle itself for a fill at an open); a hit exits at the stop price, taker, or
   at the open when the candle opens past the stop (a gap: a stop order becomes a market order
   and fills where the market is), and the gap's extra loss is counted.
3. At the close: the signal goes through risk.gate exactly as risk-gate decides live: capital
   stop, timeout, z-stop and take profit exit at the close; an entry signal fills at this close
   (entry_delay 0) or waits entry_delay candles and fills then if the same signal still holds.
   The delay counts candles present in the data, as the loop ticks at each candle it sees: a gap
   in the history neither loses a pending entry nor fills it early. A delayed entry passes the
   risk checks at its fill, sized at its fill price.

Equity at each close is the account's realized equity, plus the open position's mark-to-market,
plus the funding it has accrued (every hour boundary since its entry, each at its rate on the
mark then), so the curve and its drawdown see funding while a position is open; a trade's PnL
still books its funding at the exit. Each symbol's curve carries its own realized PnL, so the
curves of one account add up (runs.combine).
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


ENTRIES = ("LONG", "SHORT")


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
    missing_funding_hours: int = 0                      # while in a position
    gapped_stops: int = 0                               # exchange stops filled at a gap's open
    gap_loss: float = 0.0                               # what those gaps cost beyond the stop
    regime_note: str = ""


@dataclass
class Account:
    """What the risk rules see, shared by the symbols trading on it: risk.RiskState (equity is
    capital plus every realized PnL; positions of every symbol) and the closed trades' (exit time,
    PnL) for the losing-weeks halt. `halt_weeks` None: no halt modelled (separate accounts, as
    round 1 ran them)."""

    state: risk.RiskState
    closes: list = field(default_factory=list)
    halt_weeks: int | None = None

    @classmethod
    def shared(cls, p) -> "Account":
        return cls(risk.RiskState(equity=p.capital), halt_weeks=p.losing_weeks_halt)

    @classmethod
    def alone(cls, p) -> "Account":
        """One symbol's own account, as round 1 ran it (no halt)."""
        return cls(risk.RiskState(equity=p.capital))

    def halted(self, now: int) -> bool:
        """The loop's start-up check (three losing 7-day windows in a row), made at each entry as
        if the loop were started then without --force."""
        n = self.halt_weeks
        if not n or not self.closes or self.closes[-1][0] < now - 7 * DAY_MS:
            return False                # no trade in the last window: it did not lose
        recent = self.closes[bisect.bisect_left(self.closes, (now - n * 7 * DAY_MS,)):]
        return risk.losing_weeks(recent, now, n) >= n


class Simulator:
    """One symbol's position, pending entry and equity, advanced a candle at a time, on an
    Account (its own unless one is given).

    `candle()` returns the orders it filled (as intent records with the fill time in
    decided_at and the fill's reference price in price), so execute --mode replay records the same
    fills; it keeps the round trips itself.
    """

    def __init__(self, symbol: str, tf: str, setup: StrategyParams, sz_decimals: int, rates: dict,
                 mark_at: Callable[[int], float], account: Account | None = None):
        self.symbol, self.tf, self.setup, self.sz_decimals = symbol, tf, setup, sz_decimals
        self.iv = interval_ms(tf)
        self.rates, self.mark_at = rates, mark_at
        self.account = account or Account.alone(setup.risk)
        self.capital = setup.risk.capital
        self.realized = 0.0             # this symbol's realized PnL (its share of the equity)
        self.pos: Position | None = None
        self.pending: list | None = None    # [action, candles seen since its signal]
        self.accrued, self.accrued_to = 0.0, 0      # the open position's funding so far, to when
        self.res = Result(symbol, tf)
        self.prev_t: int | None = None
        self.level = "NORMAL"           # the regime at the last candle stepped
        # the curve, in time order: parts of (close times, equity) from skip (the equity an
        # array, or one float while flat), and (None, k) for the candles stepped one by one
        # since the part before, kept in plain lists until the result
        self.equity_t: list[int] = []
        self.equity: list[float] = []
        self._parts: list[tuple] = []
        self._stepped = 0                   # how many stepped candles are in _parts
        self._last: float | None = None     # the last close's equity, set by finish

    @property
    def state(self) -> risk.RiskState:
        return self.account.state

    @state.setter
    def state(self, value: risk.RiskState) -> None:
        self.account.state = value

    # fills ------------------------------------------------------------------------------------

    def _enter(self, sig: dict, price: float, now: int, stop_from: int, out: list) -> None:
        halted = self.account.halted(now)
        got, state = risk.gate({**sig, "price": price}, now,
                               replace(self.state, halted=True) if halted else self.state,
                               self.setup.risk, self.setup.regime, self.sz_decimals)
        self.state = replace(state, halted=False) if halted else state
        (rec,) = got
        if rec["type"] == "rejected":
            self.res.rejected[rec["reason"]] = self.res.rejected.get(rec["reason"], 0) + 1
            return
        f = costs.fill("open", rec["side"], rec["size"], price, rec["reason"], rec["cloid"],
                       self.setup.costs)
        self.pos = Position(self.symbol, rec["side"], rec["size"], f.price, now, f.fee,
                            rec["cloid"], abs(f.price - price) * rec["size"], rec["reason"],
                            stop_from)
        self.state = replace(self.state, positions={**self.state.positions, self.symbol: self.pos})
        self.accrued, self.accrued_to = 0.0, now
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
        positions = {k: v for k, v in st.positions.items() if k != self.symbol}
        self.state = replace(st, positions=positions, equity=st.equity + pnl,
                             realized_today=today, day=day, cooldown_until=cooldown)
        self.account.closes.append((now, pnl))
        self.realized += pnl
        self.pos = None
        self.accrued = 0.0
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
        if self.pending is not None:
            self.pending[1] += 1
        # 1. a delayed entry due at this open (decided at the close before it)
        if self.pending is not None and bt.fill_at == "open" and self.pending[1] == bt.entry_delay:
            action = self.pending[0]
            self.pending = None
            sig = self._signal(self.prev_t, action, "delayed entry", o, level)
            self._enter(sig, o, t, t, out)
        # 2. the exchange stop on this candle's range, filled at the open past it on a gap
        if self.pos is not None and t >= self.pos.stop_from:
            long = self.pos.side == "long"
            stop = exchange_stop_price(self.pos.side, self.pos.price, bt.exchange_stop_pct)
            if (long and lo <= stop) or (not long and h >= stop):
                px = min(o, stop) if long else max(o, stop)
                if px != stop:
                    self.res.gapped_stops += 1
                    self.res.gap_loss += abs(stop - px) * self.pos.size
                self._exit(t, px, now, "exchange_stop", out)
        # 3. the close
        decision = decide(self.pos.side if self.pos else None)
        if self.pos is not None or self.pending is not None or decision.action in ENTRIES:
            sig = self._signal(t, decision.action, decision.reason, c, level,
                               exit=decision.exit, stop_loss=decision.stop_loss)
        if self.pos is not None:
            got, self.state = risk.gate(sig, now, self.state, self.setup.risk,
                                        self.setup.regime, self.sz_decimals)
            close = next((r for r in got if r["type"] == "intent" and r["action"] == "close"),
                         None)
            if close is not None:
                self.state = replace(self.state, positions={**self.state.positions,
                                                            self.symbol: self.pos})
                self._exit(t, c, now, close["reason"], out)
        elif self.pending is not None:
            action, seen = self.pending
            check = bt.entry_delay if bt.fill_at == "close" else bt.entry_delay - 1
            if seen == check and bt.cancel_if_signal_gone and decision.action != action:
                self.res.cancelled += 1
                self.pending = None
            elif seen == bt.entry_delay and bt.fill_at == "close":
                self.pending = None
                self._enter({**sig, "action": action}, c, now, t + self.iv, out)
        elif decision.action in ENTRIES:
            if bt.entry_delay == 0:
                self._enter(sig, c, now, t + self.iv, out)
            else:
                self.pending = [decision.action, 0]
        p = self.pos
        unreal = risk.unrealized(p, c) + self._accrue(now) if p else 0.0
        self.equity_t.append(now)
        self.equity.append(self.capital + self.realized + unreal)
        self.prev_t = t
        return out

    def _accrue(self, until: int) -> float:
        """The open position's funding accrued up to `until` (every hour boundary since its entry,
        counted once: the curve and the exit book the same hours)."""
        p = self.pos
        if until > self.accrued_to:
            got, _ = costs.funding_over(p.side, p.size, self.accrued_to, until, self.rates,
                                        self.mark_at)
            self.accrued += got
            self.accrued_to = until
        return self.accrued

    def skip(self, ts: np.ndarray, closes: np.ndarray) -> None:
        """Candles on which nothing can happen (the caller has made sure): their equity only."""
        if len(ts) == 0:
            return
        at = ts + self.iv
        self._flush()
        p = self.pos
        base = self.capital + self.realized
        if p is None:
            self._parts.append((at, base))
        else:
            funding = np.full(len(at), self.accrued)
            hours = costs.hours_crossed(self.accrued_to, int(at[-1]))
            if hours:
                paid = np.cumsum([x or 0.0 for x in costs.hour_payments(
                    p.side, p.size, hours, self.rates, self.mark_at)])
                k = np.searchsorted(np.array(hours), at, side="right")
                funding += np.where(k > 0, paid[np.maximum(k - 1, 0)], 0.0)
                self.accrued += float(paid[-1])
                self.accrued_to = int(at[-1])
            self._parts.append((at, base + risk.unrealized(p, closes) + funding))
        self.prev_t = int(ts[-1])

    def _flush(self) -> None:
        """The candles stepped one by one since the last part, onto the curve."""
        k = len(self.equity_t)
        if k > self._stepped:
            self._parts.append((None, k))
            self._stepped = k

    def finish(self, t: int, c: float) -> list[dict]:
        """Close what is open at the last candle's close (t its open time)."""
        out: list[dict] = []
        if self.pos is not None:
            self._exit(t, c, t + self.iv, "backtest_end", out)
            self._last = self.capital + self.realized
        return out

    def result(self) -> Result:
        self._flush()
        stepped_t = np.array(self.equity_t, dtype=np.int64)
        stepped = np.array(self.equity, dtype=float)
        ts, values, a = [], [], 0
        for at, v in self._parts:
            if at is None:
                ts.append(stepped_t[a:v])
                values.append(stepped[a:v])
                a = v
            else:
                ts.append(at)
                values.append(np.full(len(at), v) if isinstance(v, float) else v)
        self.res.equity_t = np.concatenate(ts).astype(np.int64, copy=False) if ts \
            else np.zeros(0, np.int64)
        self.res.equity = np.concatenate(values).astype(float, copy=False) if values \
            else np.zeros(0)
        if self._last is not None and len(self.res.equity):
            self.res.equity[-1] = self._last
        return self.res

    def _signal(self, t, action, reason, price, level, **more) -> dict:
        return {"symbol": self.symbol, "tf": self.tf, "t": t, "action": action,
                "reason": reason, "price": price, "regime": level, **more}


def mark_function(closes_at: np.ndarray, closes: np.ndarray) -> Callable[[int], float]:
    """The close of the last candle closed by a time (the funding mark)."""
    def mark(hour: int) -> float:
        i = int(np.searchsorted(closes_at, hour, side="right")) - 1
        return float(closes[max(i, 0)])
    return mark
