"""The exchange's health as the loop sees it: one warning line when it stops answering, one line
when it answers again, and what `status` shows in between."""

from __future__ import annotations

import time

from ..timeutil import iso

RETRY_S = 2.0           # while the exchange is down, the loop tries again this often (wall s)


class ExchangeHealth:
    def __init__(self, log, wall=time.time):
        self.log = log
        self.wall = wall
        self.down_since: int | None = None      # wall ms of the first failure of this outage
        self.reason = ""

    def failed(self, why: str) -> None:
        self.reason = why
        if self.down_since is None:
            self.down_since = int(self.wall() * 1000)
            self.log.warning(f"exchange unreachable; retrying every {RETRY_S:g} s",
                             since=iso(self.down_since), error=why)

    def ok(self) -> None:
        if self.down_since is not None:
            self.log.info("exchange reachable again",
                          down_s=round(self.wall() - self.down_since / 1000, 1))
            self.down_since = None
            self.reason = ""

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def describe(self) -> str:
        return "ok" if self.down_since is None else f"unreachable since {iso(self.down_since)}"
