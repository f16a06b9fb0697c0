"""The trade loop: at each candle close, the five stages as child processes,

    fetch-candles --update --end C --last W | compute-indicators | emit-signals --latest
      | risk-gate  ->  (the tick journal)  ->  execute --tick C

with their stderr in the JSON log; the regime polled on its schedule; the WebSocket mid feed;
and the control socket (get_state, pause, resume, emergency_close).

A tick is defined by the close C of the candle it decides on. The intents risk-gate decides are
journalled in the store (with the tick's start, in one transaction) before execute sees them,
and execute marks the tick done in the transaction of its final fill. A tick run again after a
crash therefore executes the journalled intents instead of deciding again on a position its
own fills have changed, and execute answers an intent already filled with its recorded fill.
On start-up a closed candle with no finished tick is run at once.

The control socket is served from the start, before any exchange call, and keeps answering
while the exchange is unreachable; the loop then tries again every few seconds and logs one
line when the outage starts and one when it ends. A failed stage is logged with its exit code:
a temporary failure (75) is tried again shortly, any other waits for the next candle. SIGTERM
and SIGINT let the tick in progress finish (or abandon it after a moment), then the loop stops.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from . import config, ipc, risk
from .clock import make_clock
from .config import Config
from .errors import ExitCode, PerpbotError, TemporaryFailure
from .execution import costs
from .feed import MidFeed
from .hl import parse
from .hl.client import InfoClient
from .loop import tick as stages
from .loop.outage import RETRY_S, ExchangeHealth
from .procs import child_env
from .regime import RegimeBook
from .store import Store
from .timeutil import HOUR_MS, MINUTE_MS, floor_to, interval_ms, iso

TICK_TIMEOUT_S = 120.0


class Halted(PerpbotError):
    pass


@dataclasses.dataclass
class TickProcs:
    """One tick's processes and what they have written so far."""

    close: int
    group: stages.StageGroup
    execute: subprocess.Popen | None = None
    signals: list = dataclasses.field(default_factory=list)
    decided: list = dataclasses.field(default_factory=list)
    fills: list = dataclasses.field(default_factory=list)


class Supervisor:
    def __init__(self, cfg: Config, config_path: Path, log, mode: str = "paper",
                 force: bool = False):
        self.cfg = cfg
        self.config_path = Path(config_path).resolve()
        self.log = log
        self.mode = mode
        self.force = force
        self.clock = make_clock(cfg.exchange)
        self.iv = interval_ms(cfg.strategy.timeframe)
        self.store = Store.open(cfg.db_path)
        # one try per call: the loop itself retries every RETRY_S while the exchange is down
        self.probe = InfoClient(cfg.exchange.api_url, timeout_s=min(cfg.exchange.timeout_s, 5.0),
                                retries=0)
        self.health = ExchangeHealth(log)
        self.stop = threading.Event()
        self.trade_lock = threading.Lock()
        self.started = time.time()
        self.ready = False
        self.last_tick: dict | None = None
        self.last_signals: list = []
        self.last_fills: collections.deque = collections.deque(maxlen=20)
        self.errors: collections.deque = collections.deque(maxlen=20)
        self.latencies: list[float] = []
        self.next_regime_poll = 0
        self.regime: dict | None = None
        self.feed: MidFeed | None = None
        self.failed_close: int | None = None
        self.ahead: TickProcs | None = None     # the next tick's stages, started and waiting

    # start-up ----------------------------------------------------------------------------------

    def startup(self, now: int) -> None:
        """The exchange's lot sizes and leverage limits, and the losing-weeks halt, once the
        exchange answers."""
        raw = self.probe.meta()
        meta = parse.size_decimals(raw)
        config.check_leverage(self.cfg, parse.max_leverage(raw))
        closes = self.store.closed_pnl(self.mode)
        lost = risk.losing_weeks(closes, now, self.cfg.risk.losing_weeks_halt)
        halt = lost >= self.cfg.risk.losing_weeks_halt
        if halt and not self.force:
            if not self.store.open_positions(self.mode):
                raise Halted(f"halted: the last {lost} 7-day windows all lost money; start with "
                             f"--force to trade anyway")
            self.log.warning("losing-weeks halt: positions are open, so the loop runs with new "
                             "entries blocked", losing_weeks=lost)
        elif halt:
            self.log.warning("losing-weeks halt overridden by --force", losing_weeks=lost)
        self.store.set_state("halt_entries", "1" if halt and not self.force else "0", now)
        self.store.set_state("exchange_meta", orjson.dumps(meta).decode(), now)
        self.ready = True

    # the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        server = ipc.ControlServer(ipc.socket_path(self.cfg.db_path), self.handle, self.log).start()
        try:
            ws_url = "ws" + self.cfg.exchange.api_url.rstrip("/")[len("http"):] + "/ws"
            self.feed = MidFeed(ws_url, lambda: Store.open(self.cfg.db_path), self.probe,
                                self.log).start()
            self.log.info("trade loop started", mode=self.mode, tf=self.cfg.strategy.timeframe,
                          symbols=list(self.cfg.symbols), socket=str(server.path), pid=os.getpid())
            while not self.stop.is_set():
                try:
                    self.step()
                except TemporaryFailure as e:
                    self.health.failed(e.msg)
                    self.stop.wait(RETRY_S)
        finally:
            if self.ahead is not None:
                self.ahead.group.kill()
            if self.feed:
                self.feed.stop.set()
            server.close()
            self.log.info("trade loop stopped")

    def step(self) -> None:
        """One pass: read the clock, make sure the exchange answers, run the tick that is due or
        sleep until one is. Raises TemporaryFailure while the exchange cannot be reached."""
        now = self.clock.now_ms()
        if not self.ready:
            self.startup(now)
        elif self.health.down:
            self.probe.all_mids()
        self.health.ok()
        if self.cfg.regime.markets and now >= self.next_regime_poll:
            self.poll_regime(now)
        close = floor_to(now, self.iv)
        done = self.store.last_tick(self.mode) or 0
        if close > done and close != self.failed_close:
            with self.trade_lock:
                self.tick(close)
            return
        wake = close + self.iv
        if self.cfg.regime.markets:
            wake = min(wake, self.next_regime_poll)
        self.clock.sleep_until(wake, self.stop)

    def poll_regime(self, now: int) -> None:
        self.next_regime_poll = now + int(self.cfg.regime.poll_minutes * MINUTE_MS)
        group = stages.StageGroup(self.config_path)
        out: list[dict] = []
        try:
            p = group.spawn("poll-regime", ["--quiet"], subprocess.DEVNULL)
            group.thread(stages.collect, p.stdout, out)
            code = group.wait(["poll-regime"], time.monotonic() + TICK_TIMEOUT_S,
                              self.stop)["poll-regime"]
        finally:
            group.kill()
            group.finish()
        self._forward("poll-regime", group.stderr["poll-regime"])
        if code == 0 and out:
            self.regime = out[-1]
        else:
            self._error("poll-regime failed", code=code)

    def decide_commands(self, close: int) -> list[tuple[str, list[str]]]:
        cfg = self.cfg
        return [
            ("fetch-candles", [*cfg.symbols, "--tf", cfg.strategy.timeframe, "--update",
                               "--end", str(close - self.iv), "--last",
                               str(cfg.indicators.window), "--funding"]),
            ("compute-indicators", []),
            ("emit-signals", ["--latest", "--mode", self.mode]),
            ("risk-gate", ["--mode", self.mode]),
        ]

    def spawn_tick(self, close: int, ahead: bool = False) -> "TickProcs":
        """The stages that decide the tick of `close` and the execute that takes its intents,
        started together; with `ahead` they wait, ready, for the tick's go."""
        t = TickProcs(close, stages.StageGroup(self.config_path, ahead))
        prev = None
        for name, args in self.decide_commands(close):
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

    def _spawn_execute(self, t: "TickProcs", close: int) -> subprocess.Popen:
        ex = t.group.spawn("execute", ["--mode", self.mode, "--tick", str(close)],
                           subprocess.PIPE)
        t.group.thread(stages.collect, ex.stdout, t.fills)
        return ex

    def tick(self, close: int) -> None:
        """Run the tick of the candle that closed at `close` (ms): decide and journal its
        intents, or take the journalled ones of a tick that crashed; then execute them."""
        speed = self.clock.speed if self.clock.speed > 0 else 1.0
        lag_s = max(0.0, (self.clock.now_ms() - close) / 1000 / speed)
        t0 = time.perf_counter()
        journalled = self.store.tick_intents(self.mode, close)
        ready, self.ahead = self.ahead, None
        if ready is not None and (ready.close != close or journalled is not None):
            ready.group.kill()              # started for another candle, or nothing to decide
            ready.group.finish()
            ready = None
        if journalled is not None:
            t = TickProcs(close, stages.StageGroup(self.config_path))
            t.execute = self._spawn_execute(t, close)
        else:
            t = ready or self.spawn_tick(close)
            t.group.go()
        deadline = time.monotonic() + TICK_TIMEOUT_S
        codes: dict[str, int] = {}
        try:
            if journalled is None:
                codes = t.group.wait([n for n, _ in self.decide_commands(close)], deadline,
                                     self.stop)
                if any(c != 0 for c in codes.values()):
                    t.group.kill()          # execute included: nothing was decided
                else:
                    journalled = [r for r in t.decided if r.get("type") == "intent"]
                    self.store.start_tick(self.mode, close, journalled, int(time.time() * 1000))
            else:
                self.log.info("tick resumed from the journal", close=close,
                              intents=len(journalled))
            if all(c == 0 for c in codes.values()):
                stages.feed(t.execute.stdin, journalled)
                codes.update(t.group.wait(["execute"], deadline, self.stop))
        finally:
            t.group.kill()                  # a no-op unless something is still running
            t.group.finish()
        self._tick_done(close, codes, t, lag_s, time.perf_counter() - t0)
        if not self.stop.is_set():
            # the next tick's stages start now, so that its candle pays for no start-up
            self.ahead = self.spawn_tick(close + self.iv, ahead=True)

    def _tick_done(self, close, codes, t: "TickProcs", lag_s, duration) -> None:
        fills = [o for o in t.fills if o.get("type") == "fill"]
        decided = t.decided
        ok = all(c == 0 for c in codes.values())
        temporary = not ok and all(c in (0, ExitCode.TEMPFAIL) for c in codes.values())
        for name, lines in t.group.stderr.items():
            self._forward(name, lines, quiet=temporary)
        self.last_signals = t.signals
        self.last_fills.extend(fills)
        self.last_tick = {"close": close, "close_iso": iso(close), "ok": ok, "exit_codes": codes,
                          "duration_s": round(duration, 4), "lag_s": round(lag_s, 4),
                          "latency_s": round(lag_s + duration, 4), "fills": len(fills),
                          "rejected": [o for o in decided if o.get("type") == "rejected"]}
        if ok:
            self.failed_close = None
            self.latencies.append(lag_s + duration)
            self.log.info("tick", close=close, latency_s=round(lag_s + duration, 4),
                          duration_s=round(duration, 4), fills=len(fills),
                          signals=[(s["symbol"], s["action"]) for s in t.signals])
            return
        failed = {k: v for k, v in codes.items() if v != 0}
        if self.stop.is_set():
            self.log.warning("tick abandoned: the loop is stopping", close=close,
                             exit_codes=failed)
        elif temporary:
            # most likely the exchange: confirm, so an outage is one line, not one per retry
            self.probe.all_mids()
            self._error("tick failed for now; retrying", close=close, exit_codes=failed)
            self.stop.wait(RETRY_S)
        else:
            self.failed_close = close
            self._error("tick failed; retrying at the next candle", close=close,
                        exit_codes=failed)

    # the control socket ------------------------------------------------------------------------

    def handle(self, req: dict) -> dict:
        cmd = req["cmd"]
        if cmd == "get_state":
            return self.snapshot()
        if cmd in ("pause", "resume"):
            with Store.open(self.cfg.db_path) as st:
                st.set_state("paused", "1" if cmd == "pause" else "0", int(time.time() * 1000))
            self.log.info(cmd + "d" if cmd == "pause" else "resumed")
            return {"paused": cmd == "pause"}
        if cmd == "emergency_close":
            return self.emergency_close(req.get("symbol") or "all")
        raise PerpbotError(f"unknown command {cmd!r} (get_state, pause, resume, emergency_close)")

    def emergency_close(self, which: str) -> dict:
        with self.trade_lock, Store.open(self.cfg.db_path) as st:
            now = self.clock.now_ms()
            positions = [p for p in st.open_positions(self.mode) if which in ("all", p["symbol"])]
            intents = [risk.intent(p["symbol"], now, now, "close", p["side"], p["size"],
                                   p["price"], "emergency_close", "NORMAL") for p in positions]
            if which == "all":
                st.set_state("paused", "1", now)        # no re-entry at the next candle
            if not intents:
                return {"closed": [], "paused": which == "all"}
            r = subprocess.run([sys.executable, str(stages.BIN / "execute"), "--mode", self.mode,
                                "--config", str(self.config_path)],
                               input=b"".join(orjson.dumps(i) + b"\n" for i in intents),
                               capture_output=True, timeout=TICK_TIMEOUT_S, env=child_env())
        self._forward("execute", r.stderr.splitlines())
        fills = [orjson.loads(x) for x in r.stdout.splitlines()]
        self.last_fills.extend(fills)
        self.log.warning("emergency close", symbols=[p["symbol"] for p in positions],
                         code=r.returncode)
        return {"closed": fills, "paused": which == "all", "exit_code": r.returncode}

    def snapshot(self) -> dict:
        """The state for get_state; never calls the exchange (it answers during an outage)."""
        now = self.clock.estimate_ms()
        with Store.open_readonly(self.cfg.db_path) as st:
            rs = st.risk_state(now, self.cfg.risk.capital, self.mode)
            mids = self.feed.mids if self.feed else {}
            positions = []
            unreal = 0.0
            for p in rs.positions.values():
                mid = mids.get(p.symbol)
                u = risk.unrealized(p, mid) if mid else None
                rates = costs.hourly_rates(st.funding(p.symbol, p.t, now + HOUR_MS))
                funding, _ = costs.funding_over(p.side, p.size, p.t, now, rates,
                                                lambda h, p=p, mid=mid: mid or p.price)
                unreal += (u or 0.0) + funding
                positions.append({"symbol": p.symbol, "side": p.side, "size": p.size,
                                  "entry": p.price, "entry_t": p.t, "mid": mid, "unrealized": u,
                                  "funding": funding})
            book = RegimeBook(st.regimes(), self.cfg.regime)
            level, why = book.at(now)
        return {
            "mode": self.mode, "pid": os.getpid(), "uptime_s": round(time.time() - self.started, 1),
            "clock": now, "clock_iso": iso(now), "timeframe": self.cfg.strategy.timeframe,
            "exchange": self.health.describe(), "exchange_unreachable_since":
                self.health.down_since, "exchange_error": self.health.reason or None,
            "equity": rs.equity + unreal, "realized_equity": rs.equity, "positions": positions,
            "last_signals": self.last_signals, "last_fills": list(self.last_fills)[-5:],
            "risk": {"paused": rs.paused, "halted": rs.halted, "cooldown_until": rs.cooldown_until,
                     "realized_today": rs.realized_today,
                     "daily_loss_cap": self.cfg.risk.daily_loss_cap_pct * rs.equity,
                     "max_positions": self.cfg.risk.max_positions},
            "last_tick": self.last_tick,
            "regime": {"level": level, "reason": why, "last_poll": self.regime},
            "feed": {"connected": bool(self.feed and self.feed.connected),
                     "age_s": self.feed.age_s() if self.feed else None,
                     "reconnects": self.feed.reconnects if self.feed else 0},
            "errors": list(self.errors),
        }

    # logging -----------------------------------------------------------------------------------

    def _forward(self, stage: str, lines, quiet: bool = False) -> None:
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
            level = level if level in ("debug", "info", "warning", "error") else "info"
            self.log.log("debug" if quiet else level, msg, source=stage, **rec)

    def _error(self, msg: str, **fields) -> None:
        self.errors.append({"t": int(time.time() * 1000), "msg": msg, **fields})
        self.log.error(msg, **fields)
