"""Diagnostics: JSON lines on stderr (plain text on a terminal), never on stdout."""

from __future__ import annotations

import sys
import time

import orjson

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


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

    def critical(self, msg: str, /, **f) -> None:
        """Money at risk (a position without its stop): a person must look now."""
        self.log("critical", msg, **f)


class DaemonLog(Diag):
    """The trade loop's log: JSON lines in a rotating file (perp-bot.log) and on stdout; on a
    terminal, stdout gets one human line per event instead (`12:15:03 OPEN long ETH ...`)."""

    HUMAN_FIELDS = 4            # a human line shows at most this many fields

    def __init__(self, stage: str, path, level: str = "info", stream=None,
                 max_bytes: int = 5 << 20, backups: int = 3, human: bool | None = None):
        import logging
        import logging.handlers
        import threading

        super().__init__(stage, level, stream if stream is not None else sys.stdout, plain=False)
        self.human = self.stream.isatty() if human is None else human
        self.file = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                         backupCount=backups)
        self.file.setFormatter(logging.Formatter("%(message)s"))
        self.lock = threading.Lock()
        self._record = logging.LogRecord

    def write_line(self, line: str, human: str | None = None) -> None:
        with self.lock:
            try:
                self.stream.write((human if self.human and human is not None else line) + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                pass
            self.file.emit(self._record("perpbot", 20, "", 0, line, None, None))

    def log(self, level: str, msg: str, /, **fields) -> None:
        if LEVELS[level] < self.threshold:
            return
        rec = {"ts": time.time_ns() // 1_000_000, "level": level, "stage": self.stage, "msg": msg}
        for k, v in fields.items():
            rec.setdefault(k, v)
        human = None
        if self.human:
            extra = " ".join(f"{k}={v}" for k, v in list(fields.items())[:self.HUMAN_FIELDS]
                             if v is not None and k != "condition")
            tag = "" if level == "info" else level.upper() + " "
            human = f"{time.strftime('%H:%M:%S', time.gmtime(rec['ts'] / 1000))} {tag}{msg}" + \
                (f"  ({extra})" if extra else "")
        self.write_line(orjson.dumps(rec, default=str).decode(), human)

    def close(self) -> None:
        self.file.close()
