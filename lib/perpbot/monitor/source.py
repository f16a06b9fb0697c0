"""What the monitor shows, gathered without ever blocking the screen or writing anything: the
loop's snapshot over perp-bot.sock (every second), the tail of perp-bot.log (every second), and
from the store opened read-only (every five seconds) the recent trades, the equity curve, the
open positions and each symbol's latest z, RSI and ADX from its stored candles.

A loop that does not answer, or answers garbage, makes the model OFFLINE and the store's data
stands; a locked or busy store keeps the last data read; a rotated or truncated log is read
again from its end. The poller runs in a thread; the screen reads `Model` snapshots.
"""

from __future__ import annotations

import copy
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .. import ipc, risk
from ..errors import PerpbotError
from ..store import Store
from ..timeutil import interval_ms
from . import fmt

FAST_S = 1.0            # the socket and the log
SLOW_S = 5.0            # the store
LOG_TAIL_BYTES = 48 * 1024
LOG_LINES = 200
SOCKET_TIMEOUT_S = 1.5
STORE_BUSY_MS = 200


@dataclass
class Model:
    mode: str = "paper"
    online: bool = False
    offline_reason: str = "not asked yet"
    state: dict | None = None           # the loop's last snapshot (kept while offline)
    state_wall: float = 0.0             # when it arrived (wall s)
    positions: list = field(default_factory=list)       # from the store (marked at last close)
    trades: list = field(default_factory=list)          # recent closes, newest first
    equity: list = field(default_factory=list)          # realized equity after each close
    indicators: dict = field(default_factory=dict)      # symbol -> {z, rsi, adx, close, t}
    slippage: dict = field(default_factory=dict)
    ledger: dict = field(default_factory=dict)          # paused, halted, cooldown, today's pnl
    store_error: str | None = None
    store_read: float = 0.0
    log: list = field(default_factory=list)             # (level, text)
    message: str = ""                   # the last action's answer
    message_until: float = 0.0
    version: int = 0


class Source:
    """Polls the loop, the log and the store into a Model (one thread)."""

    def __init__(self, cfg, mode: str = "paper"):
        self.cfg = cfg
        self.db = Path(cfg.db_path)
        self.sock = ipc.socket_path(self.db)
        self.log_path = self.sock.with_name("perp-bot.log")
        self.model = Model(mode=mode)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.wake = None                    # called after each change (the screen's redraw)
        self.next_slow = 0.0

    # reading ------------------------------------------------------------------------------------

    def snapshot(self) -> Model:
        with self.lock:
            return copy.copy(self.model)

    def poll(self, slow: bool | None = None) -> None:
        """One round: the socket and the log, and the store when due (or `slow`)."""
        now = time.time()
        updates = {**self._ask(), "log": self._tail()}
        if slow or (slow is None and now >= self.next_slow):
            self.next_slow = now + SLOW_S
            updates.update(self._store(updates.get("mode") or self.model.mode))
        with self.lock:
            for k, v in updates.items():
                setattr(self.model, k, v)
            self.model.version += 1
        if self.wake:
            self.wake()

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(FAST_S)

    def start(self) -> "Source":
        threading.Thread(target=self.run, name="monitor-poll", daemon=True).start()
        return self

    def _ask(self) -> dict:
        try:
            st = ipc.request(self.sock, {"cmd": "get_state"}, timeout_s=SOCKET_TIMEOUT_S)
        except ipc.NoDaemon:
            return {"online": False, "offline_reason": "no loop answers on " + self.sock.name}
        except (OSError, ValueError, PerpbotError) as e:
            return {"online": False, "offline_reason": f"the socket: {type(e).__name__}"}
        if not isinstance(st, dict) or not st.get("ok", True) or \
                not isinstance(st.get("mode"), str):
            return {"online": False, "offline_reason": "the socket answered something else"}
        return {"online": True, "offline_reason": "", "state": st, "state_wall": time.time(),
                "mode": st["mode"]}

    def _tail(self) -> list:
        """The last lines of the log, read afresh each time (a rotated or truncated file is
        simply read again from its end)."""
        try:
            with open(self.log_path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                start = max(0, size - LOG_TAIL_BYTES)
                f.seek(start)
                data = f.read(LOG_TAIL_BYTES)
        except OSError:
            return self.model.log
        lines = data.splitlines()
        if start > 0 and lines:
            lines = lines[1:]               # the first line is cut
        out = []
        for raw in lines[-LOG_LINES:]:
            text = raw.decode(errors="replace")
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                rec = None
            out.append(fmt.log_line(rec, text))
        return out

    def _store(self, mode: str) -> dict:
        try:
            st = Store.open_readonly(self.db)
        except (PerpbotError, sqlite3.Error) as e:
            return {"store_error": _short(e)}
        try:
            st.conn.execute(f"PRAGMA busy_timeout = {STORE_BUSY_MS}")
            return {**self._read_store(st, mode), "store_error": None,
                    "store_read": time.time()}
        except sqlite3.Error as e:
            return {"store_error": _short(e)}
        finally:
            st.close()

    def _read_store(self, st: Store, mode: str) -> dict:
        cfg = self.cfg
        tf = cfg.strategy.timeframe
        closes = st.closed_pnl(mode)
        equity, run = [cfg.risk.capital], cfg.risk.capital
        for _, pnl in closes:
            run += pnl
            equity.append(run)
        trades = [t for t in st.trades((mode,)) if t[2] == "close"][-50:][::-1]
        now = int(time.time() * 1000)
        ledger = st.ledger(mode)
        rs = risk.state_of(ledger, now, cfg.risk.capital)
        positions, indicators = [], {}
        for sym in cfg.symbols:
            ind = self._indicators(st, sym, tf)
            if ind:
                indicators[sym] = ind
        for p in ledger.positions:
            last = indicators.get(p.symbol, {}).get("close")
            positions.append({"symbol": p.symbol, "side": p.side, "size": p.size,
                              "entry": p.price, "entry_t": p.t, "mid": last,
                              "unrealized": risk.unrealized(p, last) if last else None})
        return {"trades": trades, "equity": equity, "positions": positions,
                "indicators": indicators, "slippage": st.slippage_stats(mode),
                "ledger": {"paused": rs.paused, "halted": rs.halted,
                           "cooldown_until": rs.cooldown_until,
                           "realized_today": rs.realized_today, "equity": rs.equity,
                           "positions": len(rs.positions)}}

    def _indicators(self, st: Store, symbol: str, tf: str) -> dict | None:
        from ..indicators import compute_arrays
        import numpy as np

        last = st.last_candle_time(symbol, tf)
        if last is None:
            return None
        p = self.cfg.indicators
        # the candles a tick feeds (indicators.window), so the values are the tick's
        rows = st.candles(symbol, tf, start=last - (p.window - 1) * interval_ms(tf))
        if len(rows) < 3:
            return None
        cols = compute_arrays(np.array([r.h for r in rows]), np.array([r.l for r in rows]),
                              np.array([r.c for r in rows]), p)

        def last_of(name):
            v = float(cols[name][-1])
            return v if np.isfinite(v) else None
        return {"t": rows[-1].t, "close": rows[-1].c, "z": last_of("z"), "rsi": last_of("rsi"),
                "adx": last_of("adx")}

    # acting -------------------------------------------------------------------------------------

    def command(self, cmd: str, **extra) -> None:
        """Send pause, resume or emergency_close (in a thread: a close may take seconds); its
        answer is shown for a few seconds."""
        def go():
            try:
                reply = ipc.request(self.sock, {"cmd": cmd, **extra}, timeout_s=150)
                text = _answer(cmd, reply)
            except ipc.NoDaemon:
                text = f"{cmd}: no loop answers"
            except (OSError, ValueError, PerpbotError) as e:
                text = f"{cmd}: {_short(e)}"
            with self.lock:
                self.model.message, self.model.message_until = text, time.time() + 6
                self.model.version += 1
            self.poll(slow=True)
        with self.lock:
            self.model.message, self.model.message_until = f"{cmd}: sent ...", time.time() + 150
            self.model.version += 1
        threading.Thread(target=go, daemon=True).start()


def _answer(cmd: str, reply) -> str:
    if not isinstance(reply, dict):
        return f"{cmd}: an answer that is not an object"
    if not reply.get("ok", False):
        return f"{cmd}: refused: {reply.get('error', 'no reason given')}"
    if cmd == "emergency_close":
        closed = reply.get("closed") or []
        return f"emergency close: {len(closed)} closed" + (", entries paused"
                                                            if reply.get("paused") else "")
    return {"pause": "paused: no new entries", "resume": "resumed"}.get(cmd, f"{cmd}: ok")


def _short(e: Exception) -> str:
    return (getattr(e, "msg", None) or str(e) or type(e).__name__).splitlines()[0][:120]
