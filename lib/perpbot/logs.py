"""Diagnostics: JSON lines on stderr (plain text on a terminal), never on stdout."""

from __future__ import annotations

import sys
import time

import orjson

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Diag:
    """One stage's diagnostics writer. `fields` become keys of the JSON line."""

    def __init__(self, stage: str, level: str = "info", stream=None, plain: bool | None = None):
        self.stage = stage
        self.stream = stream if stream is not None else sys.stderr
        self.threshold = LEVELS[level]
        self.plain = self.stream.isatty() if plain is None else plain

    def log(self, level: str, msg: str, /, **fields) -> None:
        if LEVELS[level] < self.threshold:
            return
        if self.plain:
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            line = f"{self.stage}: {msg}" + (f" ({extra})" if extra else "")
        else:
            rec = {"ts": time.time_ns() // 1_000_000, "level": level, "stage": self.stage,
                   "msg": msg}
            for k, v in fields.items():
                rec.setdefault(k, v)        # a field never overwrites the four keys above
            line = orjson.dumps(rec, default=str).decode()
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def debug(self, msg: str, /, **f) -> None:
        self.log("debug", msg, **f)

    def info(self, msg: str, /, **f) -> None:
        self.log("info", msg, **f)

    def warning(self, msg: str, /, **f) -> None:
        self.log("warning", msg, **f)

    def error(self, msg: str, /, **f) -> None:
        self.log("error", msg, **f)
