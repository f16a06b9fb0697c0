"""Filling intents on paper (at the live mid) or in simulation (at the intent's price), and
recording them: the order and the trade in one transaction, so a crash leaves either both or
neither. An intent whose cloid is already filled is answered with the recorded fill."""

from __future__ import annotations

import bisect

from ..params import CostParams
from ..store import Store
from ..timeutil import interval_ms
from . import costs


class Executor:
    def __init__(self, store: Store, mode: str, cost: CostParams, tf: str, mid_of=None, log=None):
        self.store = store
        self.mode = mode
        self.cost = cost
        self.tf = tf
        self.mid_of = mid_of            # paper: symbol -> mid now
        self.log = log

    def _mark_at(self, symbol: str, fallback: float):
        """The close of the last candle closed by each hour (the strategy's timeframe)."""
        rows = self.store.candles(symbol, self.tf)
        closes_at = [r[3] + 1 for r in rows]
        prices = [r[7] for r in rows]

        def mark(h: int) -> float:
            i = bisect.bisect_right(closes_at, h) - 1
            return prices[i] if i >= 0 else fallback
        return mark

    def execute(self, intent: dict, now: int) -> dict | None:
        """The fill record for an intent, filling it if it was not filled before; None when the
        intent no longer applies (a close with no position, an open with one already)."""
        recorded = self.store.fill_by_cloid(intent["cloid"])
        if recorded is not None:
            return recorded
        symbol, side, action = intent["symbol"], intent["side"], intent["action"]
        pos = self.store.open_position(symbol)
        if action == "close" and (pos is None or pos["side"] != side):
            self._warn("close intent without that position: skipped", intent)
            return None
        if action == "open" and pos is not None:
            self._warn("open intent while a position is open: skipped", intent)
            return None
        size = pos["size"] if action == "close" else intent["size"]
        t = intent["decided_at"] if self.mode == "sim" else now
        mid = intent["price"] if self.mode == "sim" else self.mid_of(symbol)
        f = costs.fill(action, side, size, mid, intent["reason"], intent["cloid"], self.cost)
        funding = pnl = None
        if action == "close":
            rates = costs.hourly_rates(self.store.funding(symbol, pos["t"], t + interval_ms("1h")))
            funding, missing = costs.funding_over(side, size, pos["t"], t, rates,
                                                  self._mark_at(symbol, pos["price"]))
            if missing and self.log:
                self.log.warning("funding hours missing: counted as zero", symbol=symbol,
                                 hours=len(missing))
            pnl = costs.realized_pnl(side, size, pos["price"], f.price, pos["fee"] + f.fee, funding)
        rec = {"type": "fill", "v": 1, "symbol": symbol, "t": t, "side": side, "size": size,
               "price": f.price, "fee": f.fee, "cloid": intent["cloid"],
               "trade_id": f"{self.mode}-{intent['cloid'][2:]}", "mode": self.mode,
               "action": action, "reason": intent["reason"], "mid": mid, "slippage": f.slippage,
               "taker": f.taker}
        if action == "close":
            rec.update(funding=funding, pnl=pnl, entry_price=pos["price"])
        self.store.record_fill(intent, rec)
        return rec

    def _warn(self, msg, intent):
        if self.log:
            self.log.warning(msg, symbol=intent["symbol"], cloid=intent["cloid"])
