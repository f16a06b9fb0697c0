"""The outbox's sender: a thread that delivers each channel's messages in order.

A channel whose server said 429 waits its retry_after and resends the same text, sending
nothing else meanwhile; a 5xx or an unreachable server is retried with backoff (2 s doubling
to 5 minutes), never given up; another 4xx drops that message on that channel (a warning line)
and the next goes. At most alerts.max_per_minute a channel. A message is marked sent in the
store when its server took it, so a restart sends what was queued; a message is marked `sending`
before its request leaves, and one a crash left so is never sent again (it may have arrived:
neither chat API can tell, and a fill announced twice is worse than a warning line saying one
may be missing).
"""

from __future__ import annotations

import collections
import threading
import time

from ..store import Store
from .channels import Delivered, Refused

BACKOFF_S, BACKOFF_MAX_S = 2.0, 300.0
IDLE_S = 0.25


class Sender:
    def __init__(self, db_path, channels, max_per_minute: int, log, clock=time.monotonic,
                 sleep=None):
        self.db_path, self.channels, self.log = db_path, list(channels), log
        self.max_per_minute = max_per_minute
        self.clock = clock
        self.stop = threading.Event()
        self.blocked_until = {c.name: 0.0 for c in self.channels}
        self.failures = {c.name: 0 for c in self.channels}
        self.sent_at = {c.name: collections.deque() for c in self.channels}
        self.thread: threading.Thread | None = None

    def start(self) -> "Sender":
        if self.channels:
            self.thread = threading.Thread(target=self.run, name="alerts", daemon=True)
            self.thread.start()
        return self

    def run(self) -> None:
        with Store.open(self.db_path) as st:
            lost = st.alerts_interrupted()
            if lost:
                self.log.warning("alerts interrupted mid-delivery by a crash: not sent again "
                                 "(they may have arrived)", count=lost)
            while not self.stop.is_set():
                if not self.round(st):
                    self.stop.wait(IDLE_S)

    def round(self, st: Store) -> bool:
        """One message tried on each channel that may send now; True when any was tried."""
        busy = False
        now = self.clock()
        for c in self.channels:
            if now < self.blocked_until[c.name] or not self._rate_ok(c.name, now):
                continue
            row = st.next_alert(c.name)
            if row is None:
                continue
            busy = True
            alert_id, event, text, tries = row
            st.alert_sending(alert_id)
            out = c.send(text)
            wall = int(time.time() * 1000)
            if isinstance(out, Delivered):
                st.alert_done(alert_id, "sent", wall)
                self.failures[c.name] = 0
                self.sent_at[c.name].append(now)
            elif isinstance(out, Refused):
                st.alert_done(alert_id, "failed", wall, out.why)
                self.log.warning("alert refused: dropped on this channel", channel=c.name,
                                 event=event, error=out.why)
            else:
                st.alert_done(alert_id, "pending", wall, out.why)
                self.failures[c.name] += 1
                wait = out.after_s if out.after_s is not None else \
                    min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (self.failures[c.name] - 1))
                self.blocked_until[c.name] = now + wait
                if self.failures[c.name] == 1 or out.after_s is not None:
                    self.log.warning("alert not delivered yet; trying again", channel=c.name,
                                     event=event, error=out.why, retry_in_s=round(wait, 1))
        return busy

    def _rate_ok(self, name: str, now: float) -> bool:
        q = self.sent_at[name]
        while q and now - q[0] >= 60.0:
            q.popleft()
        return len(q) < self.max_per_minute

    def close(self, timeout_s: float = 2.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout_s)
