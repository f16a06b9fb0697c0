"""The store's rows as named tuples (still tuples: a row compares equal to its values), shared by
the store and the exchange parser that makes them."""

from __future__ import annotations

from typing import NamedTuple


class Candle(NamedTuple):
    symbol: str
    tf: str
    t: int              # open time, ms
    t_close: int        # close time (the exchange's T: the last ms of the candle)
    o: float
    h: float
    l: float  # noqa: E741 - the exchange's name
    c: float
    v: float            # volume, base units
    n: int              # trades


class FundingRate(NamedTuple):
    symbol: str
    t: int              # ms
    rate: float         # per hour, a fraction
    premium: float | None


class RegimeRow(NamedTuple):
    t: int
    level: str
    war_risk: float | None
    rate_change: float | None
    fresh_t: int | None
    reason: str
    sources: dict


class Ledger(NamedTuple):
    """What a ledger (paper or live) says of its account: open positions (dicts), the closing
    trades' (t, pnl), the cooldown after a stop loss, and the loop's pause and halt flags."""

    positions: list
    closes: list
    cooldown_until: int | None
    paused: bool
    halted: bool
