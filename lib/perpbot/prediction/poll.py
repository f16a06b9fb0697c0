"""One poll of every configured prediction market, each read as a Reading."""

from __future__ import annotations

from ..errors import TemporaryFailure
from ..params import MarketConfig, RegimeConfig
from . import Reading, SourceError
from .http import JsonGetter
from .kalshi import Kalshi
from .polymarket import Polymarket


def make_adapters(cfg: RegimeConfig) -> dict:
    def getter(url):
        return JsonGetter(url, timeout_s=cfg.timeout_s, retries=cfg.retries)
    return {"polymarket": Polymarket(getter(cfg.polymarket_url)),
            "kalshi": Kalshi(getter(cfg.kalshi_url))}


def read_market(adapter, m: MarketConfig, now: int) -> Reading:
    """The market's Reading: ok with a probability, skipped with the reason, or unreachable."""
    def reading(p, status, reason=""):
        return Reading(m.source, m.id, m.category, m.weight, now, p, status, reason)
    try:
        p, why = adapter.probability(m.id)
    except TemporaryFailure as e:
        return reading(None, "unreachable", e.msg)
    except SourceError as e:
        return reading(None, "skipped", f"malformed response: {e}")
    if p is None:
        return reading(None, "skipped", why)
    return reading(p, "ok")


def poll(cfg: RegimeConfig, now: int, adapters: dict, log=None) -> list[Reading]:
    out = []
    for m in cfg.markets:
        r = read_market(adapters[m.source], m, now)
        if log and r.status != "ok":
            log.warning(f"{m.source} {m.id}: {r.status}: {r.reason}", market=m.id)
        out.append(r)
    return out
