"""The loop's watch, a thread that looks once a second at what a tick does not: the price feed
(STALE when no price came for alerts.stale_seconds of wall time, and once more when prices flow
again), the heartbeat (every alerts.heartbeat_minutes of the loop's clock) and the daily summary
(at 00:00 UTC of the loop's clock). Each condition is one log line when it starts and one when
it ends, never one a tick. It also feeds systemd's watchdog when NOTIFY_SOCKET is set.
"""

from __future__ import annotations

import threading
import time

from ..alerts import messages
from ..store import Store
from ..timeutil import DAY_MS, MINUTE_MS
from . import sdnotify, snapshot
from .tick import TICK_TIMEOUT_S

TICK_S = 1.0


class Watch:
    def __init__(self, loop):
        self.loop = loop
        self.stale_since: float | None = None
        self.started = time.time()
        self.next_beat: int | None = None
        self.day: int | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> "Watch":
        self.thread = threading.Thread(target=self.run, name="watch", daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        while not self.loop.stop.wait(TICK_S):
            try:
                self.check()
            except Exception as e:          # the watch must never take the loop down
                self.loop.log.error("watch failed", error=f"{type(e).__name__}: {e}")

    def check(self) -> None:
        started = self.loop.ticks.started
        if started is None or time.time() - started < 2 * TICK_TIMEOUT_S:
            sdnotify.notify("WATCHDOG=1")       # not while a tick hangs past its timeout
        self.check_feed(time.time())
        if self.loop.ready:
            now = self.loop.clock.estimate_ms()
            self.check_heartbeat(now)
            self.check_day(now)

    def check_feed(self, wall: float) -> None:
        loop, limit = self.loop, self.loop.cfg.alerts.stale_seconds
        feed = loop.feed
        age = feed.age_s() if feed else None
        if age is None:
            age = wall - self.started           # no price since the loop started
        if age > limit and self.stale_since is None:
            self.stale_since = wall - age
            loop.log.warning("price feed stale", age_s=round(age, 1), limit_s=limit)
            loop.alerts.send("STALE", messages.stale(age, limit))
        elif age <= limit and self.stale_since is not None:
            lasted = wall - self.stale_since
            self.stale_since = None
            loop.log.info("price feed flowing again", stale_s=round(lasted, 1))
            loop.alerts.send("STALE", messages.fresh(lasted))

    def check_heartbeat(self, now: int) -> None:
        every = int(self.loop.cfg.alerts.heartbeat_minutes * MINUTE_MS)
        if self.next_beat is None:
            self.next_beat = now + every
            return
        if now < self.next_beat:
            return
        self.next_beat = now + every
        st = snapshot.state(self.loop)
        feed = st["feed"]
        health = "stale" if self.stale_since is not None else \
            "ok" if feed.get("connected") else "down"
        self.loop.alerts.send("HEARTBEAT", messages.heartbeat(
            st["mode"], st["regime"]["level"], st["positions"], st["equity"], health,
            st["risk"].get("slippage")))

    def check_day(self, now: int) -> None:
        day = now - now % DAY_MS
        if self.day is None:
            self.day = day
            return
        if day == self.day:
            return
        done, self.day = self.day, day
        loop = self.loop
        with Store.open_readonly(loop.cfg.db_path) as st:
            closes = st.closed_pnl(loop.mode, done, day - 1)
            equity = snapshot.state(loop)["realized_equity"]
        loop.alerts.send("DAILY", messages.daily(done, loop.mode, len(closes),
                                                 sum(p for _, p in closes), equity),
                         key=f"daily:{loop.mode}:{done}")
