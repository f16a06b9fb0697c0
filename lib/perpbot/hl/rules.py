"""The exchange's price and size rules for perps (reference §5.3), in one place for the live
executor and for hl-sim, which refuses what breaks them.

A price has at most 5 significant figures and at most 6 - szDecimals decimals; an integer
price is always allowed. A size has at most szDecimals decimals. An order is worth $10 or more.
"""

from __future__ import annotations

import math

MAX_DECIMALS = 6            # perps (spot: 8)
SIG_FIGS = 5
MIN_NOTIONAL = 10.0


def price_decimals(px: float, sz_decimals: int) -> int:
    """How many decimals a price of this size may have."""
    return max(0, min(MAX_DECIMALS - sz_decimals, SIG_FIGS - 1 - math.floor(math.log10(px))))


def price_ok(px: float, sz_decimals: int) -> bool:
    if not px > 0 or not math.isfinite(px):
        return False
    if float(px).is_integer():
        return True
    d = price_decimals(px, sz_decimals)
    return math.isclose(round(px, d), px, rel_tol=0, abs_tol=10 ** -(d + 3))


def round_price(px: float, sz_decimals: int, direction: str = "nearest") -> float:
    """The valid price nearest to px ("nearest"), or the nearest at or below ("down": a buy
    that must not pay more) or at or above ("up": a sell that must not get less)."""
    if px <= 0:
        raise ValueError(f"price {px} is not positive")
    d = price_decimals(px, sz_decimals)
    scaled = px * 10 ** d
    step = {"nearest": round, "down": math.floor, "up": math.ceil}[direction]
    # a hair of float error must not push an exact price one tick away
    out = round(step(round(scaled, 6)) / 10 ** d, d)
    if out <= 0:
        raise ValueError(f"price {px} is below the smallest tick for szDecimals {sz_decimals}")
    # rounding up can reach the next power of ten, where one decimal fewer is allowed
    return out if price_ok(out, sz_decimals) else round_price(out, sz_decimals, direction)


def size_ok(sz: float, sz_decimals: int) -> bool:
    return sz > 0 and math.isclose(round(sz, sz_decimals), sz, rel_tol=0, abs_tol=1e-12)
