"""Kalshi's public market data: GET /trade-api/v2/markets/{ticker} -> {"market": {...}}.

The probability is the mid of the Yes bid and ask in dollars (`yes_bid_dollars`,
`yes_ask_dollars`, decimal strings); the older integer-cent fields (`yes_bid`, `yes_ask`) are
used only where the dollar ones are absent. A market that is not open for trading is skipped,
and so is one with no Yes quote at all.
"""

from __future__ import annotations

from . import SourceError, check_probability
from .http import JsonGetter

OPEN = {"active", "open"}


def _price(market: dict, side: str) -> float | None:
    dollars = market.get(f"yes_{side}_dollars")
    if dollars is not None:
        return check_probability(dollars, f"yes_{side}_dollars")
    cents = market.get(f"yes_{side}")
    if cents is not None:
        if isinstance(cents, bool) or not isinstance(cents, (int, float)):
            raise SourceError(f"yes_{side}: not a number of cents: {cents!r}")
        return check_probability(cents / 100.0, f"yes_{side} (cents)")
    return None


def yes_probability(market: dict) -> tuple[float | None, str]:
    status = market.get("status")
    if status not in OPEN:
        return None, f"market {status or 'without a status'}"
    bid, ask = _price(market, "bid"), _price(market, "ask")
    if bid is None and ask is None:
        raise SourceError("no yes bid or ask")
    if bid is not None and ask is not None:
        if bid > ask:
            raise SourceError(f"yes bid {bid} above ask {ask}")
        if ask == 0:
            return None, "no Yes quote"
        return (bid + ask) / 2.0, ""
    return (bid if bid is not None else ask), ""


class Kalshi:
    name = "kalshi"

    def __init__(self, getter: JsonGetter):
        self.getter = getter

    def probability(self, ticker: str) -> tuple[float | None, str]:
        body = self.getter.get(f"/trade-api/v2/markets/{ticker}")
        if body is None:
            return None, f"no market {ticker}"
        market = body.get("market") if isinstance(body, dict) else None
        if not isinstance(market, dict):
            raise SourceError('expected {"market": {...}}')
        return yes_probability(market)
