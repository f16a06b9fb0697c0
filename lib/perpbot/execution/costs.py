"""The cost model, one set of functions for paper trading and backtests.

- Entries and ordinary exits are maker limit orders at mid (maker fee); stop exits (capital
  stop, z-stop, the exchange stop) and an emergency close are taker orders (taker fee).
- Every fill pays adverse slippage: a buy fills above mid, a sell below, by a fraction that is
  fixed (slippage_fixed_bps) or uniform in [slippage_min, slippage_max], drawn from a generator
  seeded by (seed, cloid), so the same order always gets the same slippage.
- Funding is paid every hour on open positions: a long pays rate x notional when the rate is
  positive (and receives when negative), a short the reverse. Fractions, not percent.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from ..params import CostParams
from ..timeutil import HOUR_MS

STOP_EXITS = frozenset({"capital_stop", "z_stop", "exchange_stop"})
# exits that cross the spread: the stops, and an emergency close (a market exit, at once)
TAKER_EXITS = STOP_EXITS | {"emergency_close"}


@dataclass(frozen=True)
class Fill:
    price: float
    fee: float          # quote currency, paid
    slippage: float     # fraction of mid, adverse
    taker: bool


def slippage_frac(cloid: str, p: CostParams) -> float:
    if p.slippage_fixed_bps is not None:
        return p.slippage_fixed_bps / 10_000.0
    seed = int.from_bytes(hashlib.sha256(f"{p.seed}|{cloid}".encode()).digest()[:8], "big")
    return random.Random(seed).uniform(p.slippage_min, p.slippage_max)


def is_buy(action: str, side: str) -> bool:
    """Opening a long and closing a short buy; the other two sell."""
    return (action == "open") == (side == "long")


def fill(action: str, side: str, size: float, mid: float, reason: str, cloid: str,
         p: CostParams) -> Fill:
    taker = action == "close" and reason in TAKER_EXITS
    s = slippage_frac(cloid, p)
    price = mid * (1.0 + s) if is_buy(action, side) else mid * (1.0 - s)
    fee = price * size * (p.taker_fee if taker else p.maker_fee)
    return Fill(price, fee, s, taker)


def funding_payment(side: str, size: float, mark: float, rate: float) -> float:
    """What the position receives for one funding hour (negative: it pays)."""
    sign = 1.0 if side == "long" else -1.0
    return -sign * size * mark * rate


def hours_crossed(start: int, end: int) -> list[int]:
    """The hour boundaries h with start < h <= end (ms)."""
    first = start - start % HOUR_MS + HOUR_MS
    return list(range(first, end + 1, HOUR_MS))


def hour_payments(side: str, size: float, hours: list[int], rates: dict[int, float],
                  mark_at) -> list[float | None]:
    """What each funding hour pays the position (its rate on the notional at the mark then);
    None for an hour without a rate."""
    return [None if (rate := rates.get(h)) is None else
            funding_payment(side, size, mark_at(h), rate) for h in hours]


def funding_over(side: str, size: float, start: int, end: int, rates: dict[int, float],
                 mark_at) -> tuple[float, list[int]]:
    """Funding received over a holding period: every hour boundary crossed pays that hour's rate
    on the notional at the mark then. `rates` maps hour -> rate; a missing hour counts as zero
    and is returned in the list of missing hours."""
    hours = hours_crossed(start, end)
    total, missing = 0.0, []
    for h, paid in zip(hours, hour_payments(side, size, hours, rates, mark_at)):
        if paid is None:
            missing.append(h)
        else:
            total += paid
    return total, missing


def hourly_rates(rows) -> dict[int, float]:
    """funding_rates rows (symbol, t, rate, premium) keyed by their hour (the exchange stamps a
    rate a few ms past the hour it belongs to)."""
    return {t - t % HOUR_MS: rate for _, t, rate, _ in rows}


def rates_within(rows, start: int, end: int) -> list:
    """The funding rows of the hours h with start < h <= end: a run from start to its last close
    at end (a rate is stamped a few ms past its hour, so the last hour's row is stamped after
    end; it belongs to the run all the same)."""
    return [r for r in rows if start < r[1] - r[1] % HOUR_MS <= end]


def missing_hours(rates: dict[int, float], start: int, end: int) -> list[int]:
    """The hour boundaries of (start, end] without a rate."""
    return [h for h in hours_crossed(start, end) if h not in rates]


def realized_pnl(side: str, size: float, entry: float, exit_: float, fees: float,
                 funding: float) -> float:
    sign = 1.0 if side == "long" else -1.0
    return sign * (exit_ - entry) * size - fees + funding


@dataclass(frozen=True)
class Close:
    """A position closed: the exit fill, the funding over its life (received, quote; missing
    hours counted as zero and listed), both legs' fees, and the realized PnL net of all."""

    fill: Fill
    funding: float
    missing_hours: list
    fees: float
    pnl: float


def close(pos, mid: float, now: int, reason: str, cloid: str, p: CostParams, rates: dict,
          mark_at) -> Close:
    """Close a position (rows.Position) at `mid` at `now`: the one account rule of an exit, for
    paper and live ledgers, a replay and the backtest alike."""
    f = fill("close", pos.side, pos.size, mid, reason, cloid, p)
    funding, missing = funding_over(pos.side, pos.size, pos.t, now, rates, mark_at)
    fees = pos.fee + f.fee
    return Close(f, funding, missing, fees,
                 realized_pnl(pos.side, pos.size, pos.price, f.price, fees, funding))
