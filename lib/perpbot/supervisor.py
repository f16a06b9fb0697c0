"""The trade loop: at each candle close, the five stages as child processes,

    fetch-candles --update --end C --last W | compute-indicators | emit-signals --latest
      | risk-gate | execute --mode paper

with their stderr in the JSON log; the regime polled on its schedule; the WebSocket mid feed;
and the control socket (get_state, pause, resume, emergency_close).

A tick is defined by the close C of the candle it decides on: fetch-candles ends its window at
that candle, so a tick run again (after a crash) sees the same candles and derives the same
orders, which execute never fills twice. bot_state "last_tick" records the last tick that ran
to the end; on start-up a closed candle with no finished tick is decided at once. A failed stage
is logged with its exit code and the loop waits for the next candle. SIGTERM and SIGINT let the
tick in progress finish, then the loop stops.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from . import ipc, risk
from .clock import make_clock
from .config import Config
from .errors import PerpbotError
from .execution import costs
from .feed import MidFeed
from .hl import parse
from .hl.client import InfoClient
from .regime import RegimeBook
from .store import Store
from .timeutil import HOUR_MS, MINUTE_MS, floor_to, interval_ms, iso

BIN = Path(__file__).resolve().parents[2] / "bin"
TICK_TIMEOUT_S = 120.0


class Halted(PerpbotError):
    pass


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
        self.client = InfoClient.from_config(cfg.exchange, log=log)
        self.stop = threading.Event()
        self.trade_lock = threading.Lock()
        self.started = time.time()
        self.last_tick: dict | None = None
        self.last_signals: list = []
        self.last_fills: collections.deque = collections.deque(maxlen=20)
        self.errors: collections.deque = collections.deque(maxlen=20)
        self.latencies: list[float] = []
        self.next_regime_poll = 0
        self.regime: dict | None = None
        self.feed: MidFeed | None = None
        self.failed_close: int | None = None

    # start-up ----------------------------------------------------------------------------------

    def startup(self) -> None:
        now = self.clock.now_ms()
        closes = self.store.closed_pnl()
        lost = risk.losing_weeks(closes, now, self.cfg.risk.losing_weeks_halt)
        halt = lost >= self.cfg.risk.losing_weeks_halt
        if halt and not self.force:
            if not self.store.open_positions():
                raise Halted(f"halted: the last {lost} 7-day windows all lost money; start with "
                             f"--force to trade anyway")
            self.log.warning("losing-weeks halt: positions are open, so the loop runs with new "
                             "entries blocked", losing_weeks=lost)
        elif halt:
            self.log.warning("losing-weeks halt overridden by --force", losing_weeks=lost)
        self.store.set_state("halt_entries", "1" if halt and not self.force else "0", now)
        self.store.set_state("exchange_meta",
                             orjson.dumps(parse.size_decimals(self.client.meta())).decode(), now)

    # the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        self.startup()
        server = ipc.ControlServer(ipc.socket_path(self.cfg.db_path), self.handle, self.log).start()
        ws_url = "ws" + self.cfg.exchange.api_url.rstrip("/")[len("http"):] + "/ws"
        self.feed = MidFeed(ws_url, lambda: Store.open(self.cfg.db_path), self.client,
                            self.log).start()
        self.log.info("trade loop started", mode=self.mode, tf=self.cfg.strategy.timeframe,
                      symbols=list(self.cfg.symbols), socket=str(server.path))
        try:
            while not self.stop.is_set():
                now = self.clock.now_ms()
                if self.cfg.regime.markets and now >= self.next_regime_poll:
                    self.poll_regime(now)
                close = floor_to(now, self.iv)
                done = int(self.store.get_state("last_tick") or 0)
                if close > done and close != self.failed_close:
                    with self.trade_lock:
                        self.tick(close)
                    continue
                wake = close + self.iv
                if self.cfg.regime.markets:
                    wake = min(wake, self.next_regime_poll)
                self.clock.sleep_until(wake, self.stop)
        finally:
            self.feed.stop.set()
            server.close()
            self.log.info("trade loop stopped")

    def poll_regime(self, now: int) -> None:
        self.next_regime_poll = now + int(self.cfg.regime.poll_minutes * MINUTE_MS)
        r = subprocess.run([sys.executable, str(BIN / "poll-regime"), "--config",
                            str(self.config_path), "--quiet"], capture_output=True,
                           timeout=TICK_TIMEOUT_S)
        self._forward("poll-regime", r.stderr.splitlines())
        if r.returncode == 0 and r.stdout:
            self.regime = orjson.loads(r.stdout.splitlines()[-1])
        else:
            self._error("poll-regime failed", code=r.returncode)

    def commands(self, close: int) -> list[tuple[str, list[str]]]:
        cfg = self.cfg
        return [
            ("fetch-candles", [*cfg.symbols, "--tf", cfg.strategy.timeframe, "--update",
                               "--end", str(close - self.iv), "--last",
                               str(cfg.indicators.window), "--funding"]),
            ("compute-indicators", []),
            ("emit-signals", ["--latest"]),
            ("risk-gate", []),
            ("execute", ["--mode", self.mode]),
        ]

    def tick(self, close: int) -> None:
        """Run the pipeline for the candle that closed at `close` (ms)."""
        lag_s = max(0.0, (self.clock.now_ms() - close) / 1000 / self.clock.speed)
        t0 = time.perf_counter()
        procs, threads = [], []
        signals: list[dict] = []
        outputs: list[dict] = []
        env = {**os.environ, "PERPBOT_LINE_BUFFERED": "1"}
        prev = None
        for name, args in self.commands(close):
            # emit-signals' output comes through this process (the relay keeps the signals for
            # get_state); every other stage reads its predecessor's stdout directly.
            if prev is None:
                stdin = subprocess.DEVNULL
            elif name == "risk-gate":
                stdin = subprocess.PIPE
            else:
                stdin = prev.stdout
            p = subprocess.Popen([sys.executable, str(BIN / name), *args, "--config",
                                  str(self.config_path)], stdin=stdin, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, start_new_session=True)
            if name == "risk-gate":
                threads.append(_relay(prev.stdout, p.stdin, signals))
            elif prev is not None:
                prev.stdout.close()             # the next stage owns that pipe now
            threads.append(_forward_thread(self, name, p.stderr))
            procs.append((name, p))
            prev = p
        threads.append(_collect(prev.stdout, outputs))
        codes = {}
        deadline = time.monotonic() + TICK_TIMEOUT_S
        for name, p in procs:
            try:
                codes[name] = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = p.wait()
        for th in threads:
            th.join(timeout=5)
        duration = time.perf_counter() - t0
        fills = [o for o in outputs if o.get("type") == "fill"]
        self.last_signals = signals
        self.last_fills.extend(fills)
        ok = all(c == 0 for c in codes.values())
        self.last_tick = {"close": close, "close_iso": iso(close), "ok": ok, "exit_codes": codes,
                          "duration_s": round(duration, 4), "lag_s": round(lag_s, 4),
                          "latency_s": round(lag_s + duration, 4), "fills": len(fills),
                          "rejected": [o for o in outputs if o.get("type") == "rejected"]}
        if ok:
            self.failed_close = None
            self.store.set_state("last_tick", str(close), close)
            self.latencies.append(lag_s + duration)
            self.log.info("tick", close=close, latency_s=round(lag_s + duration, 4),
                          duration_s=round(duration, 4), fills=len(fills),
                          signals=[(s["symbol"], s["action"]) for s in signals])
        else:
            self.failed_close = close
            failed = {k: v for k, v in codes.items() if v != 0}
            self._error("tick failed; retrying at the next candle", close=close, exit_codes=failed)

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
            positions = [p for p in st.open_positions() if which in ("all", p["symbol"])]
            intents = [risk.intent(p["symbol"], now, now, "close", p["side"], p["size"],
                                   p["price"], "emergency_close", "NORMAL") for p in positions]
            if which == "all":
                st.set_state("paused", "1", now)        # no re-entry at the next candle
        if not intents:
            return {"closed": [], "paused": which == "all"}
        r = subprocess.run([sys.executable, str(BIN / "execute"), "--mode", self.mode,
                            "--config", str(self.config_path)],
                           input=b"".join(orjson.dumps(i) + b"\n" for i in intents),
                           capture_output=True, timeout=TICK_TIMEOUT_S)
        self._forward("execute", r.stderr.splitlines())
        fills = [orjson.loads(x) for x in r.stdout.splitlines()]
        self.last_fills.extend(fills)
        self.log.warning("emergency close", symbols=[p["symbol"] for p in positions],
                         code=r.returncode)
        return {"closed": fills, "paused": which == "all", "exit_code": r.returncode}

    def snapshot(self) -> dict:
        with Store.open_readonly(self.cfg.db_path) as st:
            now = self.clock.now_ms()
            rs = st.risk_state(now, self.cfg.risk.capital)
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

    def _forward(self, stage: str, lines) -> None:
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
            self.log.log(level if level in ("debug", "info", "warning", "error") else "info",
                         msg, source=stage, **rec)

    def _error(self, msg: str, **fields) -> None:
        self.errors.append({"t": int(time.time() * 1000), "msg": msg, **fields})
        self.log.error(msg, **fields)


def _relay(src, dst, seen: list) -> threading.Thread:
    """Pass emit-signals' records to risk-gate, keeping the signals for get_state."""
    def run():
        try:
            for line in src:
                try:
                    rec = orjson.loads(line)
                    if rec.get("type") == "signal":
                        seen.append(rec)
                except orjson.JSONDecodeError:
                    pass
                dst.write(line)
                dst.flush()
        except (BrokenPipeError, ValueError):
            pass
        finally:
            for f in (dst, src):
                try:
                    f.close()
                except (BrokenPipeError, ValueError, OSError):
                    pass
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def _collect(src, out: list) -> threading.Thread:
    def run():
        for line in src:
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                pass
        src.close()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def _forward_thread(sup: Supervisor, stage: str, src) -> threading.Thread:
    def run():
        sup._forward(stage, src)
        src.close()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th
