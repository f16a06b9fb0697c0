"""The store's rows as named tuples (still tuples: a row compares equal to its values), shared by
the store and the exchange parser that makes them."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Position:
    """An open position, the one type for it everywhere: the risk rules, the ledgers (paper,
    live, replay) and the simulated account of the backtest."""

    symbol: str
    side: str               # long or short
    size: float             # base units
    price: float            # entry (fill) price
    t: int                  # entry (fill) time, ms
    fee: float = 0.0        # the entry's fee, quote
    cloid: str = ""         # the entry order's client order id
    slippage: float = 0.0   # the entry's slippage cost, quote
    reason: str = ""        # why it was entered
    stop_from: int = 0      # the first candle (open time) the exchange stop may hit


class Ledger(NamedTuple):
    """What a ledger (paper or live) says of its account: open positions, the closing
    trades' (t, pnl), the cooldown after a stop loss, the loop's pause and halt flags, and (live)
    the exchange's account value at the last reconciliation."""

    positions: list
    closes: list
    cooldown_until: int | None
    paused: bool
    halted: bool
    account_value: float | None = None


class LiveOrder(NamedTuple):
    """An order sent (or about to be) to the exchange, as the live order journal keeps it."""

    cloid: str
    intent: str             # the cloid of the intent it serves
    symbol: str
    kind: str               # entry, entry_ioc, stop, exit
    seq: int                # 0 for the intent's first order of its kind, then 1, 2, ...
    px: float | None
    oids: tuple             # every oid the exchange gave it (a modify gives a new one)
    status: str             # sending, resting, filled, canceled, rejected, unknown
    t: int
