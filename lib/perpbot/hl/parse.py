"""Hyperliquid responses into store rows and records.

The exchange sends prices and sizes as decimal strings and times as integer ms; float() of a
decimal string is the nearest float64, the same every time, so values round-trip exactly.
"""

from __future__ import annotations

from ..errors import BadInput
from .. import records
from ..rows import Candle, FundingRate

_CANDLE_KEYS = ("t", "T", "o", "h", "l", "c", "v", "n")


def _num(obj: dict, key: str, where: str) -> float:
    try:
        x = float(obj[key])
    except KeyError:
        raise BadInput(f'{where}: field "{key}": missing') from None
    except (TypeError, ValueError):
        raise BadInput(f'{where}: field "{key}": expected a decimal string, got {obj[key]!r}') from None
    if x != x or x in (float("inf"), float("-inf")):
        raise BadInput(f'{where}: field "{key}": expected a finite number, got {obj[key]!r}')
    return x


def _int(obj: dict, key: str, where: str) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadInput(f'{where}: field "{key}": expected an integer, got {v!r}')
    return v


def candle_row(c: dict, symbol: str, tf: str, where: str = "candleSnapshot") -> Candle:
    """One candleSnapshot element as a store row (symbol, tf, t, T, o, h, l, c, v, n)."""
    if not isinstance(c, dict):
        raise BadInput(f"{where}: expected a candle object, got {c!r}")
    t = _int(c, "t", where)
    return Candle(symbol, tf, t, _int(c, "T", where), _num(c, "o", where), _num(c, "h", where),
                  _num(c, "l", where), _num(c, "c", where), _num(c, "v", where),
                  _int(c, "n", where) if "n" in c else 0)


def funding_row(f: dict, symbol: str, where: str = "fundingHistory") -> FundingRate:
    """One fundingHistory element as a store row (symbol, t, rate, premium)."""
    if not isinstance(f, dict):
        raise BadInput(f"{where}: expected a funding object, got {f!r}")
    premium = f.get("premium")
    return FundingRate(symbol, _int(f, "time", where), _num(f, "fundingRate", where),
                       None if premium is None else _num(f, "premium", where))


def candle_record(row: tuple) -> dict:
    symbol, tf, t, T, o, h, l, c, v, n = row
    return records.make("candle", symbol=symbol, tf=tf, t=t, T=T,
                        o=o, h=h, l=l, c=c, volume=v, n=n)


def funding_record(row: tuple) -> dict:
    symbol, t, rate, premium = row
    return records.make("funding", symbol=symbol, t=t, rate=rate, premium=premium)


def mids(resp: dict) -> dict[str, float]:
    """allMids: coin to mid price."""
    if not isinstance(resp, dict):
        raise BadInput(f"allMids: expected an object, got {type(resp).__name__}")
    return {coin: _num(resp, coin, "allMids") for coin in resp}


def size_decimals(meta: dict) -> dict[str, int]:
    """meta: coin to szDecimals (lot size is 10**-szDecimals). Delisted coins are kept."""
    try:
        return {a["name"]: int(a["szDecimals"]) for a in meta["universe"]}
    except (KeyError, TypeError) as e:
        raise BadInput(f"meta: malformed universe ({e})") from None


def max_leverage(meta: dict) -> dict[str, int]:
    """meta: coin to its maximum leverage."""
    return {a["name"]: int(a["maxLeverage"]) for a in meta.get("universe", ())
            if isinstance(a, dict) and "maxLeverage" in a}


def asset_index(meta: dict) -> dict[str, int]:
    """meta: coin to perp asset index (its position in the universe, delisted included)."""
    return {a["name"]: i for i, a in enumerate(meta["universe"])}
