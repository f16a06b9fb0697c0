"""One tick: the candle that closed at C decided by

    fetch-candles --update --end C --last W | compute-indicators | emit-signals --latest
      | risk-gate  ->  (the tick journal)  ->  execute --tick C

The intents risk-gate decides are journalled in the store (with the tick's start, in one
transaction) before execute sees them, and execute marks the tick done in the transaction of its
final fill. A tick run again after a crash therefore executes the journalled intents instead of
deciding again on a position its own fills have changed. The next tick's stages start as soon as
a tick ends and wait, imported, for its candle (so a tick pays for no start-up).
"""

from __future__ import annotations

import collections
import dataclasses
import subprocess
import threading
import time

from ..errors import ExitCode
from ..timeutil import interval_ms, iso
from ..alerts import messages
from . import stages
from .outage import RETRY_S

TICK_TIMEOUT_S = 120.0
NEVER = threading.Event()          # a stop request that never comes


@dataclasses.dataclass
class TickProcs:
    """One tick's processes and what they have written so far."""

    close: int
    group: stages.StageGroup
    execute: subprocess.Popen | None = None
    signals: list = dataclasses.field(default_factory=list)
    decided: list = dataclasses.field(default_factory=list)
    fills: list = dataclasses.field(default_factory=list)


def journalled_fresh(codes: dict) -> bool:
    """Whether the deciding stages ran this tick (not only execute, from the journal)."""
    return "risk-gate" in codes


class TickRunner:
    def __init__(self, loop):
        self.loop = loop                    # the schedule: cfg, mode, store, clock, probe, stop
        self.iv = interval_ms(loop.cfg.strategy.timeframe)
        self.ahead: TickProcs | None = None
        self.last_tick: dict | None = None
        self.last_signals: list = []
        self.last_fills: collections.deque = collections.deque(maxlen=20)
        self.latencies: list[float] = []
        self.failed_close: int | None = None
        self.started: float | None = None          # wall s the running tick began

    def commands(self, close: int) -> list[tuple[str, list[str]]]:
        cfg, mode = self.loop.cfg, self.loop.mode
        return [
            ("fetch-candles", [*cfg.symbols, "--tf", cfg.strategy.timeframe, "--update",
                               "--end", str(close - self.iv), "--last",
                               str(cfg.indicators.window), "--funding"]),
            ("compute-indicators", []),
            ("emit-signals", ["--latest", "--mode", mode]),
            ("risk-gate", ["--mode", mode]),
        ]

    def spawn(self, close: int, ahead: bool = False) -> TickProcs:
        """The stages that decide the tick of `close` and the execute that takes its intents,
        started together; with `ahead` they wait, ready, for the tick's go."""
        t = TickProcs(close, stages.StageGroup(self.loop.config_path, ahead))
        prev = None
        for name, args in self.commands(close):
            stdin = subprocess.DEVNULL if prev is None else \
                subprocess.PIPE if name == "risk-gate" else prev.stdout
            p = t.group.spawn(name, args, stdin)
            if name == "risk-gate":
                t.group.thread(stages.relay, prev.stdout, p.stdin, t.signals)
            elif prev is not None:
                prev.stdout.close()         # the next stage owns that pipe now
            prev = p
        t.group.thread(stages.collect, prev.stdout, t.decided)
        t.execute = self._spawn_execute(t, close)
        return t

    def _spawn_execute(self, t: TickProcs, close: int) -> subprocess.Popen:
        ex = t.group.spawn("execute", ["--mode", self.loop.mode, "--tick", str(close)],
                           subprocess.PIPE)
        t.group.thread(stages.collect, ex.stdout, t.fills)
        return ex

    def drop_ahead(self) -> None:
        if self.ahead is not None:
            self.ahead.group.kill()
            self.ahead.group.finish()
            self.ahead = None

    def run(self, close: int) -> None:
        """Run the tick of the candle that closed at `close` (ms): decide and journal its
        intents, or take the journalled ones of a tick that crashed; then execute them."""
        self.started = time.time()
        try:
            self._run(close)
        finally:
            self.started = None

    def _run(self, close: int) -> None:
        loop = self.loop
        speed = loop.clock.speed if loop.clock.speed > 0 else 1.0
        lag_s = max(0.0, (loop.clock.now_ms() - close) / 1000 / speed)
        t0 = time.perf_counter()
        journalled = loop.store.tick_intents(loop.mode, close)
        if self.ahead is not None and (self.ahead.close != close or journalled is not None):
            self.drop_ahead()               # started for another candle, or nothing to decide
        ready, self.ahead = self.ahead, None
        if journalled is not None:
            t = TickProcs(close, stages.StageGroup(loop.config_path))
            t.execute = self._spawn_execute(t, close)
        else:
            t = ready or self.spawn(close)
            t.group.go()
        deadline = time.monotonic() + TICK_TIMEOUT_S
        codes: dict[str, int] = {}
        try:
            if journalled is None:
                codes = t.group.wait([n for n, _ in self.commands(close)], deadline, loop.stop)
                if any(c != 0 for c in codes.values()):
                    t.group.kill()          # execute included: nothing was decided
                else:
                    journalled = [r for r in t.decided if r.get("type") == "intent"]
                    loop.store.start_tick(loop.mode, close, journalled, int(time.time() * 1000))
            else:
                loop.log.info("tick resumed from the journal", close=close,
                              intents=len(journalled))
            if all(c == 0 for c in codes.values()):
                stages.feed(t.execute.stdin, journalled)
                # live orders in flight are not killed on a stop request: execute ends on its
                # own bounds (entry timeout, the tick's deadline) and records what filled, so a
                # stopped loop leaves the ledger equal to the exchange
                stop = NEVER if loop.mode == "live" else loop.stop
                codes.update(t.group.wait(["execute"], deadline, stop))
        finally:
            t.group.kill()                  # a no-op unless something is still running
            t.group.finish()
        self._done(t, codes, lag_s, time.perf_counter() - t0)
        if not loop.stop.is_set():
            self.ahead = self.spawn(close + self.iv, ahead=True)

    def _done(self, t: TickProcs, codes: dict, lag_s: float, duration: float) -> None:
        loop, close = self.loop, t.close
        fills = [o for o in t.fills if o.get("type") == "fill"]
        ok = all(c == 0 for c in codes.values())
        temporary = not ok and all(c in (0, ExitCode.TEMPFAIL) for c in codes.values())
        for name, lines in t.group.stderr.items():
            loop.events.forward(name, lines, quiet=temporary)
        self.last_signals = t.signals
        self.last_fills.extend(fills)
        self.last_tick = {"close": close, "close_iso": iso(close), "ok": ok, "exit_codes": codes,
                          "duration_s": round(duration, 4), "lag_s": round(lag_s, 4),
                          "latency_s": round(lag_s + duration, 4), "fills": len(fills),
                          "rejected": [o for o in t.decided if o.get("type") == "rejected"]}
        for f in fills:
            loop.fill_said(f)
        if ok and journalled_fresh(codes):
            loop.events.tick_done()
        if ok:
            self.failed_close = None
            self.latencies.append(lag_s + duration)
            loop.log.info("tick", close=close, latency_s=round(lag_s + duration, 4),
                          duration_s=round(duration, 4), fills=len(fills),
                          signals=[(s["symbol"], s["action"]) for s in t.signals])
            return
        failed = {k: v for k, v in codes.items() if v != 0}
        if loop.stop.is_set():
            loop.log.warning("tick abandoned: the loop is stopping", close=close,
                             exit_codes=failed)
        elif temporary:
            # most likely the exchange: confirm, so an outage is one line, not one per retry
            loop.probe.all_mids()
            loop.events.error("tick failed for now; retrying", close=close, exit_codes=failed)
            loop.stop.wait(RETRY_S)
        else:
            self.failed_close = close
            loop.events.error("tick failed; retrying at the next candle", close=close,
                              exit_codes=failed)
            for name in failed:
                loop.alerts.send("FAILED", messages.failed(
                    name, f"exit {failed[name]}: " + stages.last_error(t.group.stderr.get(name))))
