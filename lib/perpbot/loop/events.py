"""The loop's event log: its own lines and its stages' stderr, into the JSON log (perp-bot.log),
and the recent errors that get_state shows.

A stage line that names a `condition` (no regime snapshots, say) is a state, not an event: it is
logged when it starts, kept quiet (debug) while every tick repeats it, and logged once more when
a tick goes by without it."""

from __future__ import annotations

import collections
import time

import orjson

from ..logs import LEVELS


class Events:
    def __init__(self, log):
        self.log = log
        self.errors: collections.deque = collections.deque(maxlen=20)
        self.on_critical = None             # (stage, msg, fields): the loop's UNHEDGED alert
        self.conditions: dict = {}          # (stage, condition) -> its message, while it holds
        self.seen: set = set()              # the conditions this tick's stages named

    def forward(self, stage: str, lines, quiet: bool = False) -> None:
        """A stage's stderr lines into the log; `quiet` logs them at debug level (a tick that
        failed for a temporary reason: the outage itself is logged once)."""
        for raw in lines:
            try:
                rec = orjson.loads(raw)
                rec = rec if isinstance(rec, dict) else {"msg": str(rec)}
            except orjson.JSONDecodeError:
                rec = {"level": "error", "msg": raw.decode(errors="replace").rstrip()}
            level = rec.pop("level", "info")
            msg = rec.pop("msg", "")
            rec.pop("stage", None)
            rec.pop("ts", None)
            level = level if level in LEVELS else "info"
            cond = rec.get("condition")
            if isinstance(cond, str):
                self.seen.add((stage, cond))
                if (stage, cond) in self.conditions:
                    level = "debug"         # still so: said when it started
                self.conditions[(stage, cond)] = msg
            if level == "critical" and not quiet:
                self.errors.append({"t": int(time.time() * 1000), "msg": msg, "source": stage})
                if self.on_critical:
                    self.on_critical(stage, msg, rec)
            self.log.log("debug" if quiet else level, msg, source=stage, **rec)

    def tick_done(self) -> None:
        """A tick ran its stages: a condition none of them named again is over."""
        for (stage, cond), msg in list(self.conditions.items()):
            if (stage, cond) not in self.seen:
                del self.conditions[(stage, cond)]
                self.log.info(f"over: {msg}", source=stage, condition=cond)
        self.seen = set()

    def error(self, msg: str, **fields) -> None:
        self.errors.append({"t": int(time.time() * 1000), "msg": msg, **fields})
        self.log.error(msg, **fields)
