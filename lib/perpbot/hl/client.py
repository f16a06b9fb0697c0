"""Hyperliquid's POST /info, with paging past the per-response caps, a client-side weight budget,
and retries with backoff on 429, 5xx, timeouts and refused connections.

When retries run out the client raises TemporaryFailure (exit 75): the caller may try again later.
The base URL comes from config (exchange.api_url); tests point it at hl-sim on 127.0.0.1.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import orjson
import requests

from ..errors import PerpbotError, TemporaryFailure
from ..timeutil import interval_ms
from .. import retry
from ..retry import Retryable, retry_after_s
from . import weights

RETRY_STATUS = {429, 500, 502, 503, 504}


class ExchangeError(PerpbotError):
    """The exchange answered, but not with what was asked for (4xx, malformed body)."""


class InfoClient:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, retries: int = 5,
                 backoff_s: float = 0.5, backoff_max_s: float = 30.0,
                 weight_per_min: float = weights.PER_IP_WEIGHT_PER_MIN * 0.8,
                 sleep: Callable[[float], None] = time.sleep, log=None, session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.budget = weights.WeightBudget(weight_per_min)
        self.sleep = sleep
        self.log = log
        self.session = session or requests.Session()
        self.requests_made = 0
        self.weight_spent = 0

    @classmethod
    def from_config(cls, exchange_cfg, log=None) -> "InfoClient":
        return cls(exchange_cfg.api_url, timeout_s=exchange_cfg.timeout_s,
                   retries=exchange_cfg.retries, backoff_s=exchange_cfg.backoff_s,
                   backoff_max_s=exchange_cfg.backoff_max_s,
                   weight_per_min=exchange_cfg.weight_per_min * exchange_cfg.weight_share, log=log)

    def post_info(self, body: dict):
        """One /info request, budgeted and retried by the shared policy; returns the JSON."""
        rtype = body.get("type", "?")
        url = self.base_url + "/info"
        base_weight = weights.info_weight(rtype)
        payload = orjson.dumps(body)

        def attempt():
            while (wait := self.budget.take(base_weight)) > 0:
                self.sleep(wait)
            self.weight_spent += base_weight
            self.requests_made += 1
            try:
                r = self.session.post(url, data=payload, timeout=self.timeout_s,
                                      headers={"Content-Type": "application/json"})
            except requests.Timeout:
                raise Retryable(f"timed out after {self.timeout_s:g} s") from None
            except requests.ConnectionError as e:
                raise Retryable("cannot connect" + _why(e)) from None
            if r.status_code == 200:
                try:
                    data = orjson.loads(r.content)
                except orjson.JSONDecodeError:
                    raise ExchangeError(f"POST {url} {rtype}: response is not JSON: "
                                        f"{r.text[:80]!r}") from None
                extra = weights.extra_weight(rtype, len(data) if isinstance(data, list) else 0)
                self.budget.charge(extra)
                self.weight_spent += extra
                return data
            if r.status_code not in RETRY_STATUS:
                raise ExchangeError(f"POST {url} {rtype}: HTTP {r.status_code}: {r.text[:120]}")
            if r.status_code == 429:
                # The exchange says we overspent: drain our own budget so we pace ourselves.
                self.budget.charge(base_weight)
            raise Retryable(f"HTTP {r.status_code}", retry_after_s(r.headers.get("Retry-After")))

        def on_retry(e, n, delay):
            if self.log:
                self.log.debug("retrying", request=rtype, reason=e.why, attempt=n,
                               delay_s=round(delay, 3))
        try:
            return retry.call(attempt, tries=self.retries + 1, backoff_s=self.backoff_s,
                              backoff_max_s=self.backoff_max_s, sleep=self.sleep,
                              on_retry=on_retry)
        except Retryable as e:
            raise TemporaryFailure(f"POST {url} {rtype}: {e.why}; gave up after "
                                   f"{self.retries + 1} tries", request=rtype) from None

    # typed requests ----------------------------------------------------------------------------

    def meta(self) -> dict:
        return self.post_info({"type": "meta"})

    def meta_and_asset_ctxs(self) -> list:
        return self.post_info({"type": "metaAndAssetCtxs"})

    def all_mids(self) -> dict:
        return self.post_info({"type": "allMids"})

    def candle_snapshot(self, coin: str, interval: str, start: int, end: int) -> list:
        return self.post_info({"type": "candleSnapshot",
                               "req": {"coin": coin, "interval": interval,
                                       "startTime": start, "endTime": end}})

    def funding_history(self, coin: str, start: int, end: int | None = None) -> list:
        body = {"type": "fundingHistory", "coin": coin, "startTime": start}
        if end is not None:
            body["endTime"] = end
        return self.post_info(body)

    # paging ------------------------------------------------------------------------------------

    def candle_pages(self, coin: str, interval: str, start: int, end: int) -> Iterator[list]:
        """candleSnapshot pages covering [start, end], oldest first, with no candle twice.

        Each response holds at most 5000 candles; the next page starts one interval after the
        last candle returned, and paging stops when a page brings nothing new.
        """
        step = interval_ms(interval)
        cursor = start
        while cursor <= end:
            page = [c for c in self.candle_snapshot(coin, interval, cursor, end)
                    if c.get("t", -1) >= cursor]
            if not page:
                return
            yield page
            cursor = page[-1]["t"] + step

    def funding_pages(self, coin: str, start: int, end: int) -> Iterator[list]:
        """fundingHistory pages covering [start, end] (500 rows a response at most)."""
        cursor = start
        while cursor <= end:
            page = [f for f in self.funding_history(coin, cursor, end) if f.get("time", -1) >= cursor]
            if not page:
                return
            yield page
            cursor = page[-1]["time"] + 1


def _why(e: requests.ConnectionError) -> str:
    text = str(e)
    for hint in ("Connection refused", "Name or service not known", "Connection reset",
                 "Network is unreachable", "No route to host"):
        if hint in text:
            return f" ({hint.lower()})"
    return ""
