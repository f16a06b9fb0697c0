"""The monitor's formatting: plain functions from numbers to short texts and colour names, so
each is tested alone and the screen only arranges them."""

from __future__ import annotations

import math
import time

BLOCKS = " ▁▂▃▄▅▆▇█"
REGIME_COLOUR = {"NORMAL": "good", "DOVISH": "note", "HAWKISH": "note", "HIGH_RISK": "warn",
                 "CRISIS": "bad"}
LEVEL_COLOUR = {"debug": "dim", "info": "text", "warning": "warn", "error": "bad",
                "critical": "bad"}


def uptime(seconds: float | None) -> str:
    """2m 05s under an hour, 1h 01m under a day, then 2d 03h."""
    if seconds is None or seconds < 0 or math.isnan(seconds):
        return "-"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def held(ms: int | None) -> str:
    return "-" if ms is None else uptime(ms / 1000)


def money(x: float | None, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+,.2f}" if sign else f"{x:,.2f}"


def pct(x: float | None, sign: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x * 100:+.2f}%" if sign else f"{x * 100:.2f}%"


def price(x: float | None) -> str:
    """Five significant figures, as the exchange quotes."""
    if x is None or not math.isfinite(x) or x <= 0:
        return "-"
    digits = max(0, 4 - math.floor(math.log10(x)))
    return f"{x:,.{digits}f}"


def pnl_colour(x: float | None) -> str:
    if x is None or abs(x) < 0.005:
        return "text"
    return "good" if x > 0 else "bad"


def closeness(value: float | None, threshold: float) -> float:
    """How far a value has gone towards its threshold: 1 at it, above 1 beyond."""
    if value is None or not math.isfinite(value) or threshold <= 0:
        return 0.0
    return abs(value) / threshold


def heat(ratio: float) -> str:
    """The colour of a bar by how close its value is to the threshold that acts."""
    if ratio >= 1.0:
        return "hot"
    if ratio >= 0.75:
        return "warm"
    return "cold"


def bar(value: float | None, threshold: float, top: float, width: int) -> str:
    """|value| as a bar of `width` cells on [0, top], with the threshold marked `│`."""
    width = max(3, width)
    if value is None or not math.isfinite(value):
        return "·" * width
    filled = min(width, abs(value) / top * width) if top > 0 else 0
    mark = min(width - 1, int(threshold / top * width)) if top > 0 else width - 1
    cells = []
    for k in range(width):
        part = filled - k
        ch = "█" if part >= 1 else BLOCKS[max(0, int(part * 8))] if part > 0 else " "
        cells.append("│" if k == mark and ch == " " else ch)
    return "".join(cells)


def spark(values: list[float], width: int, height: int = 1) -> list[str]:
    """A block chart of the last `width` values, `height` rows, top row first."""
    vals = list(values)[-width:] if width > 0 else []
    if not vals:
        return [" " * width for _ in range(height)]
    lo, hi = min(vals), max(vals)
    span = hi - lo
    levels = [(v - lo) / span * height * 8 if span > 0 else height * 4 for v in vals]
    rows = []
    for r in range(height - 1, -1, -1):
        row = []
        for lv in levels:
            part = lv - r * 8
            row.append("█" if part >= 8 else BLOCKS[int(part)] if part > 0 else " ")
        rows.append("".join(row).ljust(width))
    return rows


def clock(ms: int | None) -> str:
    if ms is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def stamp(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%m-%d %H:%M", time.gmtime(ms / 1000))


def log_line(rec: dict | None, raw: str) -> tuple[str, str]:
    """A log line as (level, `time level message key=value ...`); a line that is not JSON is
    shown as it is."""
    if not isinstance(rec, dict):
        return "text", raw.rstrip()[:400]
    level = str(rec.get("level", "info"))
    extra = " ".join(f"{k}={v}" for k, v in rec.items()
                     if k not in ("ts", "level", "stage", "msg"))
    text = f"{clock(rec.get('ts'))} {level.upper():<8} {rec.get('msg', '')}"
    return level, (text + (f"  {extra}" if extra else ""))[:400]
