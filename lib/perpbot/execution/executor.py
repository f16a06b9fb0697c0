"""Filling intents on paper (at the live mid) or in a replay of history (at the intent's price),
and recording them in a ledger.

The paper and live ledgers are the store's orders and trades, kept apart by mode: the order and
the trade go in one transaction, so a crash leaves either both or neither. A replay keeps its
ledger in memory for the run and writes nothing to the store, so replaying history never moves
a paper or live account. In every ledger an intent whose cloid is already filled is answered
with the recorded fill, never filled twice.
"""

from __future__ import annotations

import bisect

from ..params import CostParams
from ..rows import Position
from ..store import Store
from ..timeutil import interval_ms
from . import costs
from .. import records

MODES = ("paper", "live", "replay")


class StoreLedger:
    """A paper or live ledger in the store."""

    def __init__(self, store: Store, mode: str):
        self.store = store
        self.mode = mode

    def fill_by_cloid(self, cloid: str) -> dict | None:
        return self.store.fill_by_cloid(cloid, self.mode)

    def open_position(self, symbol: str) -> Position | None:
        return self.store.open_position(symbol, self.mode)

    def record(self, intent: dict, fill: dict, finish_tick: int | None = None) -> None:
        self.store.record_fill(intent, fill, finish_tick)


class ReplayLedger:
    """A replay's ledger: the run's own fills, in memory."""

    mode = "replay"

    def __init__(self):
        self.fills: dict[str, dict] = {}
        self.positions: dict[str, Position] = {}

    def fill_by_cloid(self, cloid: str) -> dict | None:
        return self.fills.get(cloid)

    def open_position(self, symbol: str) -> Position | None:
        return self.positions.get(symbol)

    def record(self, intent: dict, fill: dict, finish_tick: int | None = None) -> None:
        self.fills[fill["cloid"]] = fill
        if fill["action"] == "open":
            self.positions[fill["symbol"]] = Position(fill["symbol"], fill["side"], fill["size"],
                                                      fill["price"], fill["t"], fill["fee"],
                                                      fill["cloid"])
        else:
            self.positions.pop(fill["symbol"], None)


class Executor:
    """`store` is read for funding rates and candle closes; fills go to `ledger`."""

    def __init__(self, store: Store, ledger, cost: CostParams, tf: str, mid_of=None, log=None):
        self.store = store
        self.ledger = ledger
        self.mode = ledger.mode
        self.cost = cost
        self.tf = tf
        self.mid_of = mid_of            # paper: symbol -> mid now
        self.log = log

    def _mark_at(self, symbol: str, fallback: float):
        """The close of the last candle closed by each hour (the strategy's timeframe)."""
        rows = self.store.candles(symbol, self.tf)
        closes_at = [r.t_close + 1 for r in rows]
        prices = [r.c for r in rows]

        def mark(h: int) -> float:
            i = bisect.bisect_right(closes_at, h) - 1
            return prices[i] if i >= 0 else fallback
        return mark

    def execute(self, intent: dict, now: int, finish_tick: int | None = None) -> dict | None:
        """The fill record for an intent, filling it if it was not filled before; None when the
        intent no longer applies (a close with no position, an open with one already). With
        `finish_tick`, a new fill is recorded in one transaction with that tick's end."""
        recorded = self.ledger.fill_by_cloid(intent["cloid"])
        if recorded is not None:
            return recorded
        symbol, side, action = intent["symbol"], intent["side"], intent["action"]
        pos = self.ledger.open_position(symbol)
        if action == "close" and (pos is None or pos.side != side):
            self._warn("close intent without that position: skipped", intent)
            return None
        if action == "open" and pos is not None:
            self._warn("open intent while a position is open: skipped", intent)
            return None
        size = pos.size if action == "close" else intent["size"]
        replay = self.mode == "replay"
        t = intent["decided_at"] if replay else now
        mid = intent["price"] if replay else self.mid_of(symbol)
        if action == "close":
            rates = costs.hourly_rates(self.store.funding(symbol, pos.t, t + interval_ms("1h")))
            c = costs.close(pos, mid, t, intent["reason"], intent["cloid"], self.cost, rates,
                            self._mark_at(symbol, pos.price))
            f = c.fill
            if c.missing_hours and self.log:
                self.log.warning("funding hours missing: counted as zero", symbol=symbol,
                                 hours=len(c.missing_hours))
        else:
            f = costs.fill(action, side, size, mid, intent["reason"], intent["cloid"], self.cost)
        rec = records.make("fill", symbol=symbol, t=t, side=side, size=size,
                           price=f.price, fee=f.fee, cloid=intent["cloid"],
                           trade_id=f"{self.mode}-{intent['cloid'][2:]}", mode=self.mode,
                           action=action, reason=intent["reason"], mid=mid, slippage=f.slippage,
                           taker=f.taker)
        if action == "close":
            rec.update(funding=c.funding, pnl=c.pnl, entry_price=pos.price)
        self.ledger.record(intent, rec, finish_tick)
        return rec

    def _warn(self, msg, intent):
        if self.log:
            self.log.warning(msg, symbol=intent["symbol"], cloid=intent["cloid"])
