"""The one retry policy every HTTP client shares (tenacity): a fixed number of tries, capped
exponential backoff with jitter between them, and a server's own wait (Retry-After) honoured.

A try that may succeed later raises `Retryable`; anything else ends the call at once. When the
tries run out the last Retryable is raised again, for the client to turn into its own error.
"""

from __future__ import annotations

import random
import time
from typing import Callable

import tenacity


class Retryable(Exception):
    """A failed try worth repeating: why, and how long the server asked us to wait (s)."""

    def __init__(self, why: str, retry_after: float | None = None):
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


def backoff(attempt: int, backoff_s: float, backoff_max_s: float,
            retry_after: float | None = None) -> float:
    """Seconds to wait after failed try number `attempt` (1 for the first)."""
    if retry_after is not None:
        return min(retry_after, backoff_max_s)
    base = min(backoff_s * 2 ** (attempt - 1), backoff_max_s)
    return base * (0.5 + random.random() / 2)     # jitter, so clients do not retry in step


def call(fn: Callable, *, tries: int, backoff_s: float, backoff_max_s: float,
         sleep: Callable[[float], None] = time.sleep, on_retry: Callable | None = None):
    """fn() until it returns or `tries` tries have raised Retryable. `on_retry(error, attempt,
    delay_s)` is told of each retry before its wait."""
    def wait(state: tenacity.RetryCallState) -> float:
        e = state.outcome.exception()
        return backoff(state.attempt_number, backoff_s, backoff_max_s, e.retry_after)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.outcome.exception(), state.attempt_number, state.next_action.sleep)

    return tenacity.Retrying(stop=tenacity.stop_after_attempt(max(1, tries)), wait=wait,
                             retry=tenacity.retry_if_exception_type(Retryable), sleep=sleep,
                             before_sleep=before_sleep, reraise=True)(fn)


def retry_after_s(header: str | None) -> float | None:
    """A Retry-After header in seconds (None when absent or not a number)."""
    try:
        return float(header) if header else None
    except ValueError:
        return None
