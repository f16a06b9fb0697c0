"""Hyperliquid's documented REST request weights and a token-bucket budget over them.

Shared by the client (which waits before it would overspend) and hl-sim (which answers 429 past
the budget), so both sides count the same way. Source: the exchange's rate-limit docs, see
shared/reference/hyperliquid-api.md section 2.14.
"""

from __future__ import annotations

import math
import threading
import time

PER_IP_WEIGHT_PER_MIN = 1200

_LIGHT = {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
          "exchangeStatus"}
_HEAVY = {"userRole": 60}
# Extra weight per this many items returned.
_PER_ITEMS = {"candleSnapshot": 60}
_PER_20 = {"recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory",
           "userFunding", "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills",
           "userTwapSliceFillsByTime", "delegatorHistory", "delegatorRewards", "validatorStats"}

# Per-response caps on time-range queries.
CANDLE_CAP = 5000
FUNDING_CAP = 500


def info_weight(rtype: str) -> int:
    """Weight charged up front for POST /info of this type."""
    if rtype in _LIGHT:
        return 2
    return _HEAVY.get(rtype, 20)


def extra_weight(rtype: str, n_items: int) -> int:
    """Weight charged after the response, for its size (rounding up, as budgeted in the docs)."""
    if rtype in _PER_ITEMS:
        return math.ceil(n_items / _PER_ITEMS[rtype])
    if rtype in _PER_20:
        return math.ceil(n_items / 20)
    return 0


def exchange_weight(batch_length: int) -> int:
    return 1 + batch_length // 40


class WeightBudget:
    """A token bucket: `capacity` weight, refilled at capacity per 60 s. Thread-safe.

    `take(w)` spends w if it is there and returns 0, or returns the seconds to wait for it.
    `charge(w)` spends w unconditionally (post-response extra weight); the balance may go
    negative, which delays later takes.
    """

    def __init__(self, capacity: float, clock=time.monotonic):
        self.capacity = float(capacity)
        self.rate = self.capacity / 60.0
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock()
        self.lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, weight: float) -> float:
        with self.lock:
            self._refill()
            if self.tokens >= weight:
                self.tokens -= weight
                return 0.0
            return (weight - self.tokens) / self.rate

    def charge(self, weight: float) -> None:
        with self.lock:
            self._refill()
            self.tokens -= weight
