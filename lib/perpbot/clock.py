"""Clocks: the wall clock, or hl-sim's clock (which may start in the past and run faster)."""

from __future__ import annotations

import time

import requests

from .errors import TemporaryFailure
from .timeutil import now_ms


class WallClock:
    speed = 1.0

    def now_ms(self) -> int:
        return now_ms()

    def sleep_until(self, t: int, stop=None, step_s: float = 0.5) -> bool:
        """Sleep until the clock reads t (ms); False if `stop` (an Event) was set first."""
        while (now := self.now_ms()) < t:
            wait = min(step_s, (t - now) / 1000 / self.speed)
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)
        return True


class SimClock(WallClock):
    """hl-sim's clock, read from its GET /sim/time (the real exchange has no such endpoint)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0):
        self.url = base_url.rstrip("/") + "/sim/time"
        self.timeout_s = timeout_s
        self.speed = 1.0
        self.session = requests.Session()

    def now_ms(self) -> int:
        try:
            r = self.session.get(self.url, timeout=self.timeout_s)
            r.raise_for_status()
            body = r.json()
            self.speed = float(body.get("speed", 1.0))
            return int(body["time"])
        except (requests.RequestException, ValueError, KeyError) as e:
            raise TemporaryFailure(f"{self.url}: cannot read the simulator's clock ({e})") from None


def make_clock(exchange_cfg):
    if exchange_cfg.clock == "sim":
        return SimClock(exchange_cfg.api_url, exchange_cfg.timeout_s)
    return WallClock()
