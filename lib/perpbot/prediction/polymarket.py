"""Polymarket's public Gamma API: GET /markets?slug=... or ?condition_ids=...

The Yes probability is the entry of `outcomePrices` (a JSON-encoded list of decimal strings)
at the index of "Yes" in `outcomes` (a JSON-encoded list of names). Closed or inactive markets
are skipped.
"""

from __future__ import annotations

import orjson

from . import SourceError, check_probability
from .http import JsonGetter


def _decoded_list(market: dict, key: str) -> list:
    value = market.get(key)
    if value is None:
        raise SourceError(f"{key} missing")
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise SourceError(f"{key} is not a JSON-encoded list: {value[:40]!r}") from None
    if not isinstance(value, list):
        raise SourceError(f"{key} is not a list")
    return value


def yes_probability(market: dict) -> tuple[float | None, str]:
    """(probability, "") for a live market, (None, reason) for one to skip; SourceError for a
    malformed one."""
    if market.get("closed") is True:
        return None, "market closed"
    if market.get("active") is False:
        return None, "market inactive"
    outcomes = _decoded_list(market, "outcomes")
    prices = _decoded_list(market, "outcomePrices")
    if len(outcomes) != len(prices):
        raise SourceError(f"{len(outcomes)} outcomes but {len(prices)} outcomePrices")
    names = [str(o).strip().lower() for o in outcomes]
    if "yes" not in names:
        raise SourceError(f"no Yes outcome among {outcomes}")
    return check_probability(prices[names.index("yes")], "Yes price"), ""


class Polymarket:
    name = "polymarket"

    def __init__(self, getter: JsonGetter):
        self.getter = getter

    def probability(self, market_id: str) -> tuple[float | None, str]:
        """A slug, or a condition id (0x + 64 hex) looked up by condition_ids."""
        key = "condition_ids" if market_id.startswith("0x") and len(market_id) == 66 else "slug"
        body = self.getter.get("/markets", {key: market_id})
        if body is None or body == []:
            return None, f"no market with {key} {market_id}"
        if not isinstance(body, list) or not isinstance(body[0], dict):
            raise SourceError("expected a list of markets")
        return yes_probability(body[0])
