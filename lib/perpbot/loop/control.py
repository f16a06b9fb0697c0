"""The control commands the socket answers: get_state, pause, resume, emergency_close. Orders
placed here go through the same execute and the same ledger as a tick's, one at a time with the
ticks (the loop's trade lock)."""

from __future__ import annotations

import subprocess
import sys
import time

import orjson

from .. import risk
from ..errors import PerpbotError
from ..procs import child_env
from ..store import Store
from . import snapshot, stages
from .tick import TICK_TIMEOUT_S


class Control:
    def __init__(self, loop):
        self.loop = loop

    def handle(self, req: dict) -> dict:
        cmd = req["cmd"]
        if cmd == "get_state":
            return snapshot.state(self.loop)
        if cmd in ("pause", "resume"):
            with Store.open(self.loop.cfg.db_path) as st:
                st.set_paused(cmd == "pause", int(time.time() * 1000))
            self.loop.log.info(cmd + "d" if cmd == "pause" else "resumed")
            return {"paused": cmd == "pause"}
        if cmd == "emergency_close":
            return self.emergency_close(req.get("symbol") or "all")
        raise PerpbotError(f"unknown command {cmd!r} (get_state, pause, resume, emergency_close)")

    def emergency_close(self, which: str) -> dict:
        """Close every open position (or one symbol's) at the mid now; closing all also pauses
        entries, or the next candle could enter again."""
        loop = self.loop
        with loop.trade_lock, Store.open(loop.cfg.db_path) as st:
            now = loop.clock.now_ms()
            positions = [p for p in st.open_positions(loop.mode) if which in ("all", p.symbol)]
            intents = [risk.intent(p.symbol, now, now, "close", p.side, p.size, p.price,
                                   "emergency_close", "NORMAL") for p in positions]
            if which == "all":
                st.set_paused(True, now)
            note = "entries stay paused until resume" if which == "all" else ""
            if not intents:
                return {"closed": [], "paused": which == "all", "note": note}
            r = subprocess.run([sys.executable, str(stages.BIN / "execute"), "--mode", loop.mode,
                                "--config", str(loop.config_path)],
                               input=b"".join(orjson.dumps(i) + b"\n" for i in intents),
                               capture_output=True, timeout=TICK_TIMEOUT_S, env=child_env())
        loop.events.forward("execute", r.stderr.splitlines())
        fills = [orjson.loads(x) for x in r.stdout.splitlines()]
        loop.ticks.last_fills.extend(fills)
        for f in fills:
            loop.fill_said(f)
        loop.log.warning("emergency close", symbols=[p.symbol for p in positions],
                         code=r.returncode)
        return {"closed": fills, "paused": which == "all", "exit_code": r.returncode,
                "note": note}
