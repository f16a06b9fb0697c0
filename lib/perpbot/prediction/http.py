"""GET with timeouts and retries for the prediction-market adapters (as the exchange client)."""

from __future__ import annotations

import time

import requests

from .. import retry
from ..errors import TemporaryFailure
from ..retry import Retryable, retry_after_s

RETRY_STATUS = {429, 500, 502, 503, 504}


class JsonGetter:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, retries: int = 3,
                 backoff_s: float = 0.5, backoff_max_s: float = 10.0, sleep=time.sleep,
                 session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.sleep = sleep
        self.session = session or requests.Session()

    def get(self, path: str, params: dict | None = None):
        """The JSON body of GET base_url + path; None for 404; TemporaryFailure when the
        venue cannot be reached after the retries (the shared policy of perpbot.retry)."""
        url = self.base_url + path

        def attempt():
            try:
                r = self.session.get(url, params=params, timeout=self.timeout_s)
            except requests.Timeout:
                raise Retryable(f"timed out after {self.timeout_s:g} s") from None
            except requests.ConnectionError:
                raise Retryable("cannot connect") from None
            if r.status_code == 404:
                return None
            if r.status_code == 200:
                try:
                    return r.json()
                except ValueError:
                    raise TemporaryFailure(f"GET {url}: response is not JSON") from None
            if r.status_code not in RETRY_STATUS:
                raise TemporaryFailure(f"GET {url}: HTTP {r.status_code}")
            raise Retryable(f"HTTP {r.status_code}", retry_after_s(r.headers.get("Retry-After")))
        try:
            return retry.call(attempt, tries=self.retries + 1, backoff_s=self.backoff_s,
                              backoff_max_s=self.backoff_max_s, sleep=self.sleep)
        except Retryable as e:
            raise TemporaryFailure(f"GET {url}: {e.why}") from None
