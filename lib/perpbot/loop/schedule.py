"""The trade loop's schedule: at each close of a strategy.timeframe candle, a tick (tick.py);
the regime polled every regime.poll_minutes; the WebSocket mid feed; the control socket.

The socket is served from the start, before any exchange call, and keeps answering while the
exchange is unreachable; the loop then tries again every few seconds (outage.py) and the next
tick fetches every candle missed. On start-up a closed candle with no finished tick is run at
once. A failed stage is logged with its exit code: a temporary failure (75) is tried again
shortly, any other waits for the next candle. SIGTERM and SIGINT let the tick in progress finish
(or abandon it after a moment; live, an execute with orders in flight is never abandoned, it ends
on its own bounds and records its fills), then the loop stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path


from .. import config, ipc, risk
from ..alerts import Alerts, messages
from ..alerts.sender import Sender
from ..clock import make_clock
from ..config import Config
from ..errors import PerpbotError, TemporaryFailure
from ..feed import MidFeed
from ..hl import parse
from ..hl.client import InfoClient
from ..store import Store
from ..timeutil import MINUTE_MS, floor_to
from . import sdnotify, stages
from .control import Control
from .events import Events
from .outage import RETRY_S, ExchangeHealth
from .tick import TICK_TIMEOUT_S, TickRunner
from .watch import Watch


class Halted(PerpbotError):
    pass


class Supervisor:
    def __init__(self, cfg: Config, config_path: Path, log, mode: str = "paper",
                 force: bool = False):
        self.cfg, self.log, self.mode, self.force = cfg, log, mode, force
        self.config_path = Path(config_path).resolve()
        self.clock = make_clock(cfg.exchange)
        self.store = Store.open(cfg.db_path)
        # one try per call: the loop itself retries every RETRY_S while the exchange is down
        self.probe = InfoClient(cfg.exchange.api_url, timeout_s=min(cfg.exchange.timeout_s, 5.0),
                                retries=0)
        self.health = ExchangeHealth(log)
        self.events = Events(log)
        self.stop = threading.Event()
        self.trade_lock = threading.Lock()
        self.started = time.time()
        self.ready = False
        self.next_regime_poll = 0
        self.regime: dict | None = None
        self.feed: MidFeed | None = None
        self.alerts = Alerts(cfg, log)
        self.sender = Sender(cfg.db_path, self.alerts.channels, cfg.alerts.max_per_minute, log)
        self.events.on_critical = self._critical
        self.ticks = TickRunner(self)
        self.control = Control(self)
        self.watch = Watch(self)
        self.trader = None                  # live: execution.live.LiveTrader, made at startup
        self.live: dict | None = None       # live: network, account, value (for get_state)

    def startup(self, now: int) -> None:
        """The exchange's lot sizes and leverage limits, and the losing-weeks halt, once the
        exchange answers. Live: leverage set on every symbol and the ledger reconciled with the
        exchange first (the halt is decided on the reconciled ledger), and one line saying
        which account on which network, and its value."""
        raw = self.probe.meta()
        meta = parse.size_decimals(raw)
        config.check_leverage(self.cfg, parse.max_leverage(raw))
        if self.mode == "live":
            from ..execution.live import connect
            if self.trader is None:
                self.trader = connect(self.cfg, self.store, self.log)
            self.trader.ensure_leverage(self.cfg.symbols)
            self.reconcile(now)
            acct = self.trader.venue.account
            self.log.info("live trading", network=acct.network, account=acct.address,
                          signer=acct.signer, account_value=self.live["account_value"])
        lost = risk.losing_weeks(self.store.closed_pnl(self.mode), now,
                                 self.cfg.risk.losing_weeks_halt)
        halt = lost >= self.cfg.risk.losing_weeks_halt
        if halt and not self.force:
            if not self.store.open_positions(self.mode):
                raise Halted(f"halted: the last {lost} 7-day windows all lost money; start with "
                             f"--force to trade anyway")
            self.log.warning("losing-weeks halt: positions are open, so the loop runs with new "
                             "entries blocked", losing_weeks=lost)
        elif halt:
            self.log.warning("losing-weeks halt overridden by --force", losing_weeks=lost)
        if halt:
            self.alerts.send("HALT", messages.halt(lost, self.force,
                                                   len(self.store.open_positions(self.mode))))
        self.store.set_halted(halt and not self.force, now)
        self.store.set_exchange_meta(meta, now)
        self.ready = True
        live = self.live or {}
        self.alerts.send("STARTED", messages.started(self.mode, self.cfg.symbols,
                                                     live.get("network"), live.get("account")))

    def reconcile(self, now: int) -> None:
        """Live: the ledger made to agree with the exchange (execution/reconcile.py)."""
        from ..execution.reconcile import reconcile
        done = reconcile(self.trader, now)
        if any(done.values()):
            self.alerts.send("RECONCILE", messages.reconcile(done))
        for sym in done["stops"]:
            self.alerts.send("UNHEDGED", messages.unhedged(
                sym, "the position had no stop on the exchange; the stop is placed again"))
        acct = self.trader.venue.account
        self.live = {"network": acct.network, "account": acct.address,
                     "account_value": self.store.account_value("live")}

    def last_reconcile(self) -> None:
        """Live, on the way out: the ledger made to agree with the exchange once more (a stop
        that filled since the last tick), so a stopped loop leaves nothing for the next start
        to discover. A failure is one line: the next start reconciles anyway."""
        if self.mode != "live" or not self.ready or self.trader is None:
            return
        try:
            with self.trade_lock:
                self.reconcile(self.clock.now_ms())
        except Exception as e:          # noqa: BLE001 - stopping must not fail on it
            self.log.warning(f"the last reconciliation before stopping failed: {e}; the next "
                             "start reconciles")

    def fill_said(self, f: dict) -> None:
        """A fill: one human line in the log, and its alert (once, whatever re-runs the tick)."""
        event, text = messages.fill(f, (self.regime or {}).get("level"))
        how = "taker" if f.get("taker") else "maker"
        bps = f.get("slippage_bps", (f.get("slippage") or 0.0) * 10_000)
        self.log.info(f"{event} {f['side']} {f['symbol']} {f['size']} @ {f['price']:.6g} "
                      f"({how}, slip {bps:.1f} bps)" + (f" PnL {f['pnl']:+.2f}"
                                                        if f.get("pnl") is not None else ""),
                      cloid=f.get("cloid"), reason=f.get("reason"))
        self.alerts.send(event, text, key=f"fill:{f.get('mode')}:{f.get('cloid')}")

    def _critical(self, source: str, msg: str, fields: dict) -> None:
        """A stage's critical line (a position left without its stop): UNHEDGED."""
        self.alerts.send("UNHEDGED", messages.unhedged(fields.get("symbol", "?"),
                                                       f"{msg} ({source})"))

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        server = ipc.ControlServer(ipc.socket_path(self.cfg.db_path), self.control.handle,
                                   self.log).start()
        self.sender.start()
        self.watch.start()
        sdnotify.notify("READY=1")
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
            sdnotify.notify("STOPPING=1")
            self.stop.set()
            self.ticks.drop_ahead()
            self.last_reconcile()
            if self.feed:
                self.feed.stop.set()
            server.close()
            self.sender.close()
            self.log.info("trade loop stopped")

    def step(self) -> None:
        """One pass: read the clock, make sure the exchange answers, run the tick that is due or
        sleep until one is. Raises TemporaryFailure while the exchange cannot be reached."""
        now = self.clock.now_ms()
        starting = not self.ready
        if starting:
            self.startup(now)               # live: reconciles
        elif self.health.down:
            self.probe.all_mids()
        self.health.ok()
        if self.cfg.regime.markets and now >= self.next_regime_poll:
            self.poll_regime(now)
        iv = self.ticks.iv
        close = floor_to(now, iv)
        if close > (self.store.last_tick(self.mode) or 0) and close != self.ticks.failed_close:
            with self.trade_lock:
                if self.mode == "live" and not starting:
                    self.reconcile(now)     # before the tick decides on the ledger
                self.ticks.run(close)
            return
        wake = close + iv
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
        self.events.forward("poll-regime", group.stderr["poll-regime"])
        if code == 0 and out:
            self.regime = out[-1]
        else:
            self.events.error("poll-regime failed", code=code)
