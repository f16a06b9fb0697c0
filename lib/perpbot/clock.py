"""Clocks: the wall clock, or hl-sim's clock (which may start in the past and run faster)."""

from __future__ import annotations

import time

import requests

from .errors import TemporaryFailure
from .timeutil import now_ms


class WallClock:
    speed = 1.0

    step_s = 0.5

    def now_ms(self) -> int:
        return now_ms()

    def estimate_ms(self) -> int:
        """The time now without asking anyone (the wall clock simply is)."""
        return now_ms()

    def sleep_until(self, t: int, stop=None) -> bool:
        """Sleep until the clock reads t (ms); False if `stop` (an Event) was set first. A clock
        that stands still (speed 0, a stepped simulator) is read again every step_s."""
        while (now := self.now_ms()) < t:
            wait = self.step_s if self.speed <= 0 else min(self.step_s,
                                                            (t - now) / 1000 / self.speed)
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)
        return True


class SimClock(WallClock):
    """hl-sim's clock, read from its GET /sim/time (the real exchange has no such endpoint)."""

    step_s = 0.2

    def __init__(self, base_url: str, timeout_s: float = 5.0):
        self.url = base_url.rstrip("/") + "/sim/time"
        self.timeout_s = timeout_s
        self.speed = 1.0
        self.session = requests.Session()
        self.last: tuple[int, float] | None = None      # (sim ms, monotonic s) of the last read

    def now_ms(self) -> int:
        try:
            r = self.session.get(self.url, timeout=self.timeout_s)
            r.raise_for_status()
            body = r.json()
            self.speed = float(body.get("speed", 1.0))
            t = int(body["time"])
        except (requests.RequestException, ValueError, KeyError) as e:
            raise TemporaryFailure(f"{self.url}: cannot read the simulator's clock "
                                   f"({type(e).__name__})") from None
        self.last = (t, time.monotonic())
        return t

    def estimate_ms(self) -> int:
        """The simulator's time carried on from the last read at its speed (the wall clock
        before any read), for answers that must not wait on the simulator."""
        if self.last is None:
            return now_ms()
        t, m = self.last
        return t + int((time.monotonic() - m) * 1000 * self.speed)


def make_clock(exchange_cfg):
    if exchange_cfg.clock == "sim":
        return SimClock(exchange_cfg.api_url, exchange_cfg.timeout_s)
    return WallClock()
