"""Times are integer UTC milliseconds everywhere inside; this module converts at the edges."""

from __future__ import annotations

import datetime as dt
import re
import time

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Hyperliquid's fixed-length candle intervals ("1M" is a calendar month and is not supported here).
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS,
    "8h": 8 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS,
}

_EPOCH_MS = re.compile(r"^\d{1,16}$")


def interval_ms(tf: str) -> int:
    try:
        return INTERVAL_MS[tf]
    except KeyError:
        raise ValueError(f'unknown timeframe "{tf}" (expected one of {", ".join(INTERVAL_MS)})') from None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(text: str) -> int:
    """Epoch milliseconds, or ISO-8601 (a date, or a date-time; no zone means UTC), to epoch ms."""
    text = text.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f'"{text}" is neither epoch milliseconds nor an ISO-8601 time') from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp() * 1000)


def iso(ms: int) -> str:
    """A UTC ISO-8601 string for people; never parsed back inside."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_to(ms: int, step_ms: int) -> int:
    return ms - ms % step_ms
