"""Risk decisions, pure functions. Sizing so far; the risk gate's checks join it with the
trade-loop issue.

Sizing: notional (quote) = capital x margin_usage x leverage x the regime's size multiplier;
size (base) = notional / price, rounded DOWN to the exchange's lot (10^-szDecimals), so an order
never exceeds the budget. A size that rounds to zero, or an order under the exchange's $10
minimum, is no order at all (0).
"""

from __future__ import annotations

import math

MIN_NOTIONAL = 10.0     # the exchange rejects orders under $10


def floor_to_lot(size: float, sz_decimals: int) -> float:
    """Round a base size down to the lot 10^-sz_decimals (a hair of float error forgiven)."""
    scale = 10 ** sz_decimals
    return math.floor(size * scale + 1e-9) / scale


def entry_size(capital: float, price: float, sz_decimals: int, *, margin_usage: float = 0.5,
               leverage: float = 3.0, multiplier: float = 1.0) -> float:
    """Base size of a new position (see the module docstring); 0 when it cannot be an order."""
    if price <= 0 or capital <= 0 or multiplier <= 0:
        return 0.0
    notional = capital * margin_usage * leverage * multiplier
    size = floor_to_lot(notional / price, sz_decimals)
    return size if size * price >= MIN_NOTIONAL else 0.0
