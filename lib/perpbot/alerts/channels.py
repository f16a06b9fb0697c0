"""The two alert channels, each one POST: Discord's webhook ({"content": text}, 204) and
Telegram's Bot API (sendMessage, plain text, no parse_mode).

An attempt ends as delivered, `Retry(after_s)` (a 429 says how long: Discord's JSON
`retry_after` or the `Retry-After` header, Telegram's `parameters.retry_after`; a 5xx or an
unreachable server is tried again with backoff) or `Refused` (another 4xx: that message is
dropped on that channel). The webhook URL and the bot token are secrets: no error, log line or
answer names them; a failure reads `discord: HTTP 500`.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import requests

from ..retry import retry_after_s


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Retry:
    why: str
    after_s: float | None = None        # the server's word (429); None: the sender backs off


@dataclass(frozen=True)
class Refused:
    why: str


class Channel:
    name = "channel"
    retry_after_at: tuple = ()          # where a 429's JSON body says how long to wait

    def __init__(self, timeout_s: float = 10.0, session=None):
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    def _post(self, url: str, body: dict):
        try:
            r = self.session.post(url, data=orjson.dumps(body), timeout=self.timeout_s,
                                  headers={"Content-Type": "application/json"})
        except requests.Timeout:
            return Retry(f"{self.name}: no answer in {self.timeout_s:g} s")
        except requests.RequestException as e:
            # the exception's text holds the URL (and so the secret): only its kind is told
            return Retry(f"{self.name}: {type(e).__name__}")
        if 200 <= r.status_code < 300:
            return r
        if r.status_code == 429:
            return Retry(f"{self.name}: HTTP 429", self._retry_after(r))
        if r.status_code >= 500:
            return Retry(f"{self.name}: HTTP {r.status_code}")
        return Refused(f"{self.name}: HTTP {r.status_code}")

    def _retry_after(self, r) -> float | None:
        """The wait a 429 asks for: its JSON body's (at retry_after_at), else its header's."""
        try:
            after = orjson.loads(r.content) if self.retry_after_at else None
            for key in self.retry_after_at:
                after = after.get(key)
            if isinstance(after, (int, float)) and after >= 0:
                return float(after)
        except (orjson.JSONDecodeError, AttributeError):
            pass
        return retry_after_s(r.headers.get("Retry-After"))

    def send(self, text: str):
        raise NotImplementedError


class Discord(Channel):
    name = "discord"
    retry_after_at = ("retry_after",)

    def __init__(self, webhook_url: str, **kw):
        super().__init__(**kw)
        self.url = webhook_url

    def send(self, text: str):
        out = self._post(self.url, {"content": text})
        return out if isinstance(out, (Retry, Refused)) else Delivered()


class Telegram(Channel):
    name = "telegram"
    retry_after_at = ("parameters", "retry_after")

    def __init__(self, api_url: str, token: str, chat_id: str, **kw):
        super().__init__(**kw)
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id

    def send(self, text: str):
        out = self._post(self.url, {"chat_id": self.chat_id, "text": text,
                                    "disable_web_page_preview": True})
        if isinstance(out, (Retry, Refused)):
            return out
        try:
            ok = orjson.loads(out.content).get("ok", False)
        except (orjson.JSONDecodeError, AttributeError):
            ok = False
        return Delivered() if ok else Refused("telegram: the answer was not ok")


def configured(cfg) -> list[Channel]:
    """The channels the secrets name (none, one or both)."""
    out: list[Channel] = []
    url = cfg.secrets.get("DISCORD_WEBHOOK_URL")
    if url:
        out.append(Discord(url, timeout_s=cfg.alerts.timeout_s))
    token, chat = cfg.secrets.get("TELEGRAM_BOT_TOKEN"), cfg.secrets.get("TELEGRAM_CHAT_ID")
    if token and chat:
        out.append(Telegram(cfg.alerts.telegram_api_url, token, chat,
                            timeout_s=cfg.alerts.timeout_s))
    return out
