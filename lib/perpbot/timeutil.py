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


_AGO = re.compile(r"^(\d+(?:\.\d+)?)([wdhm])$")
_AGO_MS = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}


def parse_time(text: str, now: int | None = None) -> int:
    """Epoch milliseconds, ISO-8601 (a date, or a date-time; no zone means UTC), or a time
    relative to `now`: 7d, 12h, 30m, 2w ago, `now`, `today` and `yesterday` (00:00 UTC)."""
    text = text.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    now = now_ms() if now is None else now
    word = text.lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        day = now - now % 86_400_000
        return day - (86_400_000 if word == "yesterday" else 0)
    m = _AGO.match(word)
    if m:
        return now - int(float(m[1]) * _AGO_MS[m[2]])
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f'"{text}" is not a time: epoch milliseconds, ISO-8601 (2026-11-01), '
                         f'or relative (7d, 12h, 30m, today, yesterday)') from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp() * 1000)


def iso(ms: int) -> str:
    """A UTC ISO-8601 string for people; never parsed back inside."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_to(ms: int, step_ms: int) -> int:
    return ms - ms % step_ms
