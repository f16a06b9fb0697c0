"""GET with timeouts and retries for the prediction-market adapters (as the exchange client)."""

from __future__ import annotations

import random
import time

import requests

from ..errors import TemporaryFailure

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
        venue cannot be reached after the retries."""
        url = self.base_url + path
        failure = ""
        for attempt in range(self.retries + 1):
            try:
                r = self.session.get(url, params=params, timeout=self.timeout_s)
            except requests.Timeout:
                failure = f"timed out after {self.timeout_s:g} s"
            except requests.ConnectionError:
                failure = "cannot connect"
            else:
                if r.status_code == 404:
                    return None
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        failure = "response is not JSON"
                        break
                if r.status_code not in RETRY_STATUS:
                    failure = f"HTTP {r.status_code}"
                    break
                failure = f"HTTP {r.status_code}"
            if attempt < self.retries:
                delay = min(self.backoff_s * 2 ** attempt, self.backoff_max_s)
                self.sleep(delay * (0.5 + random.random() / 2))
        raise TemporaryFailure(f"GET {url}: {failure}")
