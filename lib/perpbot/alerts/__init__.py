"""Alerts: what happened, in a line a person reads on their phone, queued in the store's outbox
(`Alerts.send`, never blocking the loop) and delivered by a sender thread (`sender.Sender`) to
every configured channel (channels.py), at most alerts.max_per_minute a channel.

Hand-written clients rather than apprise: the two POSTs are a few lines each, and the delivery
rules (a 429's retry_after honoured per channel with nothing else sent meanwhile, another 4xx a
permanent failure, the secret in the URL never in an error) need the HTTP status and body that
apprise keeps to itself, and apprise logs its URLs, which carry the webhook and the token.
"""

from __future__ import annotations

import time

from ..store import Store
from . import channels as ch

MAX_CHARS = 1900            # Discord's limit is 2,000


class Alerts:
    """Queue alerts for every configured channel; nothing when there is none, or for events
    that alerts.events leaves out."""

    def __init__(self, cfg, log=None, channels=None):
        self.cfg, self.log = cfg, log
        self.channels = ch.configured(cfg) if channels is None else channels
        self.events = set(cfg.alerts.events)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    def send(self, event: str, text: str, key: str | None = None, store: Store | None = None):
        if not self.channels or event not in self.events:
            return
        text = text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"
        now = int(time.time() * 1000)
        if store is not None:
            store.queue_alert(self.names, event, text, key, now)
            return
        with Store.open(self.cfg.db_path) as st:
            st.queue_alert(self.names, event, text, key, now)
