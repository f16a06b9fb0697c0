"""Clocks: the wall clock, or hl-sim's clock (which may start in the past and run faster)."""

from __future__ import annotations

import requests

from .errors import TemporaryFailure
from .timeutil import now_ms


class WallClock:
    def now_ms(self) -> int:
        return now_ms()


class SimClock:
    """hl-sim's clock, read from its GET /sim/time (the real exchange has no such endpoint)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0):
        self.url = base_url.rstrip("/") + "/sim/time"
        self.timeout_s = timeout_s

    def now_ms(self) -> int:
        try:
            r = requests.get(self.url, timeout=self.timeout_s)
            r.raise_for_status()
            return int(r.json()["time"])
        except (requests.RequestException, ValueError, KeyError) as e:
            raise TemporaryFailure(f"{self.url}: cannot read the simulator's clock ({e})") from None


def make_clock(exchange_cfg):
    if exchange_cfg.clock == "sim":
        return SimClock(exchange_cfg.api_url, exchange_cfg.timeout_s)
    return WallClock()
