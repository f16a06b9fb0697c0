"""The SQLite store: one file, WAL, busy_timeout, schema versioned with PRAGMA user_version.

Writes are idempotent (ON CONFLICT DO NOTHING / upsert on natural keys; not INSERT OR IGNORE,
which would also drop rows that break NOT NULL) and one transaction per batch,
so a backfill from cron and the trade loop can share the file. Prices and sizes are REAL (the
exchange's decimal strings parse to the same float64 every time), times INTEGER epoch ms.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

import orjson

from .errors import PerpbotError
from .rows import Candle, FundingRate, Ledger, LiveOrder, Position, RegimeRow

import os as _os

# How long a writer waits for another's transaction (the trade loop and a cron backfill share
# the file). The environment may shorten it (tests of a locked store).
BUSY_TIMEOUT_MS = int(_os.environ.get("PERPBOT_BUSY_TIMEOUT_MS", "10000"))

# Each entry moves the schema from version i to i + 1. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE candles (
        symbol TEXT NOT NULL, tf TEXT NOT NULL, t INTEGER NOT NULL, t_close INTEGER NOT NULL,
        o REAL NOT NULL, h REAL NOT NULL, l REAL NOT NULL, c REAL NOT NULL,
        v REAL NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (symbol, tf, t)
    ) WITHOUT ROWID;
    CREATE TABLE funding_rates (
        symbol TEXT NOT NULL, t INTEGER NOT NULL, rate REAL NOT NULL, premium REAL,
        PRIMARY KEY (symbol, t)
    ) WITHOUT ROWID;
    CREATE TABLE prediction_snapshots (
        source TEXT NOT NULL, market_id TEXT NOT NULL, t INTEGER NOT NULL,
        category TEXT NOT NULL, probability REAL, raw TEXT,
        PRIMARY KEY (source, market_id, t)
    );
    CREATE TABLE orders (
        cloid TEXT PRIMARY KEY, symbol TEXT NOT NULL, t INTEGER NOT NULL,
        action TEXT NOT NULL, side TEXT NOT NULL, size REAL NOT NULL, price REAL NOT NULL,
        reason TEXT, mode TEXT NOT NULL, status TEXT NOT NULL, oid INTEGER,
        created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
    );
    CREATE TABLE trades (
        trade_id TEXT PRIMARY KEY, cloid TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL,
        t INTEGER NOT NULL, side TEXT NOT NULL, size REAL NOT NULL, price REAL NOT NULL,
        fee REAL NOT NULL, mode TEXT NOT NULL, action TEXT, reason TEXT, slippage REAL,
        funding REAL NOT NULL DEFAULT 0, pnl REAL
    );
    CREATE INDEX trades_symbol_t ON trades (symbol, t);
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL
    );
    CREATE TABLE backtest_runs (
        run_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, params TEXT NOT NULL,
        metrics TEXT NOT NULL, trades TEXT NOT NULL, equity TEXT NOT NULL
    );
    """,
    # 2: the combined regime of each poll (prediction_snapshots keeps one row per market).
    """
    CREATE TABLE regime_snapshots (
        t INTEGER PRIMARY KEY, level TEXT NOT NULL, war_risk REAL, rate_change REAL,
        fresh_t INTEGER, reason TEXT NOT NULL, sources TEXT NOT NULL
    );
    """,
    # 3: the fill record as it was emitted, so a re-run answers an order with it exactly.
    """
    ALTER TABLE orders ADD COLUMN fill TEXT;
    """,
    # 4: entries the risk gate refused, by check, for the weekly review.
    """
    CREATE TABLE rejections (
        symbol TEXT NOT NULL, t INTEGER NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
        regime TEXT, PRIMARY KEY (symbol, t, action)
    );
    """,
    # 5: the tick journal. A tick's intents are stored before anything executes, so a tick run
    # again after a crash executes what was decided instead of deciding again; a tick is done
    # (done_ms set) in the transaction of its final fill. Refused entries belong to a ledger.
    """
    CREATE TABLE ticks (
        mode TEXT NOT NULL, close INTEGER NOT NULL, started_ms INTEGER NOT NULL,
        done_ms INTEGER, PRIMARY KEY (mode, close)
    );
    CREATE TABLE tick_intents (
        mode TEXT NOT NULL, close INTEGER NOT NULL, seq INTEGER NOT NULL, cloid TEXT NOT NULL,
        intent TEXT NOT NULL, PRIMARY KEY (mode, close, seq)
    );
    ALTER TABLE rejections ADD COLUMN mode TEXT NOT NULL DEFAULT 'paper';
    CREATE INDEX trades_mode_t ON trades (mode, t);
    INSERT INTO ticks (mode, close, started_ms, done_ms)
        SELECT 'paper', CAST(value AS INTEGER), updated_ms, updated_ms FROM bot_state
        WHERE key = 'last_tick';
    DELETE FROM bot_state WHERE key = 'last_tick';
    UPDATE bot_state SET key = 'cooldown_until:paper' WHERE key = 'cooldown_until';
    """,
    # 6: every order sent to the exchange, journalled before it is sent: the intent it serves
    # (its cloid), its kind (entry, entry_ioc, stop, exit), every oid the exchange gave it (a
    # modify gives a new one) and what became of it. A process that finds an order `sending`
    # asks the exchange by cloid instead of sending again.
    """
    CREATE TABLE live_orders (
        cloid TEXT PRIMARY KEY, intent TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
        seq INTEGER NOT NULL, px REAL, oids TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL,
        t INTEGER NOT NULL, updated_ms INTEGER NOT NULL
    );
    CREATE INDEX live_orders_intent ON live_orders (intent);
    """,
    # 7: alerts waiting for their channel (Discord, Telegram): one row a message a channel, so
    # each channel keeps its own order and its own retries; what was queued survives a crash.
    # A key (a fill's cloid, a day) makes a message that may be queued twice go out once.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, event TEXT NOT NULL,
        key TEXT, text TEXT NOT NULL, created_ms INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', tries INTEGER NOT NULL DEFAULT 0,
        sent_ms INTEGER, error TEXT, UNIQUE (channel, key)
    );
    CREATE INDEX outbox_pending ON outbox (channel, status, id);
    """,
]
# The ledgers a loop keeps; a replay keeps its state in its own records and writes none of them.
LEDGER_MODES = ("paper", "live")
SCHEMA_VERSION = len(MIGRATIONS)

CANDLE_COLS = ("symbol", "tf", "t", "t_close", "o", "h", "l", "c", "v", "n")


class StoreError(PerpbotError):
    pass


def cooldown_key(mode: str) -> str:
    """bot_state key of a ledger's cooldown after a stop loss."""
    return f"cooldown_until:{mode}"


def _time_range(sql: str, args: list, start: int | None, end: int | None) -> tuple[str, list]:
    """Add `t` in [start, end] (either bound optional) to a query."""
    if start is not None:
        sql += " AND t >= ?"
        args = [*args, start]
    if end is not None:
        sql += " AND t <= ?"
        args = [*args, end]
    return sql, args


def _connect(uri: str, readonly: bool) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")   # durable across crashes in WAL mode
        return conn
    except sqlite3.Error as e:
        raise StoreError(f"{uri}: cannot open the store: {e}") from None


class Store:
    """The project's SQLite file. `Store.open(path)` migrates; `Store.open_readonly` only reads."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool):
        self.conn = conn
        self.path = path
        self.readonly = readonly

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> "Store":
        """Open (and migrate) the store; with create=False a missing one is an error, not a new
        empty file (a tool that only reads history, and records what it made of it)."""
        path = Path(path)
        if not create and not path.exists():
            raise StoreError(f"{path}: no store here (run backfill first)")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(f"file:{path}", readonly=False)
        store = cls(conn, path, readonly=False)
        store.migrate()
        return store

    @classmethod
    def open_readonly(cls, path: str | Path) -> "Store":
        path = Path(path)
        if not path.exists():
            raise StoreError(f"{path}: no store here (run backfill first)")
        conn = _connect(f"file:{path}?mode=ro", readonly=True)
        store = cls(conn, path, readonly=True)
        version = store.version()
        if version != SCHEMA_VERSION:
            raise StoreError(f"{path}: store schema is version {version}, this perpbot reads "
                             f"{SCHEMA_VERSION}; open it once read-write to migrate")
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Bring the schema forward, each step in its own transaction with its version bump."""
        current = self.version()
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: store schema version {current} is newer than this "
                             f"perpbot ({SCHEMA_VERSION})")
        for target in range(current + 1, SCHEMA_VERSION + 1):
            script = MIGRATIONS[target - 1]
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                # A concurrent opener may have migrated while we waited for the lock.
                if self.version() >= target:
                    self.conn.execute("COMMIT")
                    continue
                for stmt in filter(str.strip, script.split(";")):
                    self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version = {target}")
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                self.conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: migration to version {target} failed: {e}") from None

    @contextlib.contextmanager
    def _transaction(self):
        """A write transaction (BEGIN IMMEDIATE): committed when the block ends, rolled back if
        it raises."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                cur.execute("ROLLBACK")
            raise

    def _batch(self, sql: str, rows: Iterable[Sequence]) -> int:
        """Run one statement over many rows in one transaction; return the rows changed."""
        with self._transaction() as cur:
            cur.executemany(sql, rows)
            changed = cur.rowcount
        return max(changed, 0)

    # candles -----------------------------------------------------------------------------------

    def insert_candles(self, rows: Iterable[Sequence]) -> int:
        """Rows in CANDLE_COLS order; existing (symbol, tf, t) are kept. Returns rows new."""
        return self._batch(
            "INSERT INTO candles (symbol, tf, t, t_close, o, h, l, c, v, n) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (symbol, tf, t) DO NOTHING", rows)

    def last_candle_time(self, symbol: str, tf: str) -> int | None:
        row = self.conn.execute("SELECT MAX(t) FROM candles WHERE symbol = ? AND tf = ?",
                                (symbol, tf)).fetchone()
        return row[0]

    def candles(self, symbol: str, tf: str, start: int | None = None, end: int | None = None,
                last: int | None = None) -> list[Candle]:
        """Stored candles in time order, t in [start, end]; `last` keeps only the newest N."""
        sql, args = _time_range(
            "SELECT symbol, tf, t, t_close, o, h, l, c, v, n FROM candles WHERE symbol = ? AND tf = ?",
            [symbol, tf], start, end)
        if last is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY t DESC LIMIT ?) ORDER BY t"
            args.append(last)
        else:
            sql += " ORDER BY t"
        return list(map(Candle._make, self.conn.execute(sql, args)))

    def count_candles(self, symbol: str | None = None, tf: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM candles WHERE 1", []
        if symbol:
            sql += " AND symbol = ?"
            args.append(symbol)
        if tf:
            sql += " AND tf = ?"
            args.append(tf)
        return self.conn.execute(sql, args).fetchone()[0]

    # funding -----------------------------------------------------------------------------------

    def insert_funding(self, rows: Iterable[Sequence]) -> int:
        """Rows (symbol, t, rate, premium); existing (symbol, t) are kept. Returns rows new."""
        return self._batch(
            "INSERT INTO funding_rates (symbol, t, rate, premium) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (symbol, t) DO NOTHING", rows)

    def last_funding_time(self, symbol: str) -> int | None:
        return self.conn.execute("SELECT MAX(t) FROM funding_rates WHERE symbol = ?",
                                 (symbol,)).fetchone()[0]

    def funding(self, symbol: str, start: int | None = None,
                end: int | None = None) -> list[FundingRate]:
        sql, args = _time_range("SELECT symbol, t, rate, premium FROM funding_rates WHERE symbol = ?",
                                [symbol], start, end)
        return list(map(FundingRate._make, self.conn.execute(sql + " ORDER BY t", args)))

    # prediction markets and the regime --------------------------------------------------------

    def insert_prediction_snapshots(self, rows: Iterable[Sequence]) -> int:
        """Rows (source, market_id, t, category, probability, raw JSON)."""
        return self._batch(
            "INSERT INTO prediction_snapshots (source, market_id, t, category, probability, raw) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, market_id, t) DO NOTHING", rows)

    def insert_regime(self, regime) -> int:
        return self._batch(
            "INSERT INTO regime_snapshots (t, level, war_risk, rate_change, fresh_t, reason, "
            "sources) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (t) DO NOTHING",
            [(regime.t, regime.level, regime.war_risk, regime.rate_change, regime.fresh_t,
              regime.reason, orjson.dumps(regime.sources).decode())])

    def regimes(self, start: int | None = None, end: int | None = None) -> list[RegimeRow]:
        sql, args = _time_range("SELECT t, level, war_risk, rate_change, fresh_t, reason, sources "
                                "FROM regime_snapshots WHERE 1", [], start, end)
        return [RegimeRow(t, lv, w, r, f, why, orjson.loads(src))
                for t, lv, w, r, f, why, src in self.conn.execute(sql + " ORDER BY t", args)]

    def last_regime(self):
        last = self.conn.execute("SELECT MAX(t) FROM regime_snapshots").fetchone()[0]
        return None if last is None else self.regimes(start=last)[-1]

    # the ledger (paper or live: every query names its mode) ----------------------------------

    def open_position(self, symbol: str, mode: str) -> Position | None:
        """The symbol's open position in a ledger: its last trade there, if that opened one."""
        row = self.conn.execute(
            "SELECT action, side, size, price, t, fee, cloid FROM trades WHERE symbol = ? "
            "AND mode = ? ORDER BY t DESC, rowid DESC LIMIT 1", (symbol, mode)).fetchone()
        if row is None or row[0] != "open":
            return None
        return Position(symbol, *row[1:])

    def open_positions(self, mode: str) -> list[Position]:
        symbols = [r[0] for r in self.conn.execute(
            "SELECT DISTINCT symbol FROM trades WHERE mode = ?", (mode,))]
        return [p for p in (self.open_position(s, mode) for s in symbols) if p is not None]

    def fill_by_cloid(self, cloid: str, mode: str) -> dict | None:
        """The fill record stored with the ledger's trade of this cloid, if it was filled."""
        row = self.conn.execute("SELECT o.fill FROM trades t JOIN orders o USING (cloid) "
                                "WHERE t.cloid = ? AND t.mode = ?", (cloid, mode)).fetchone()
        return orjson.loads(row[0]) if row else None

    def record_fill(self, intent: dict, fill: dict, finish_tick: int | None = None) -> None:
        """The order and its trade in one transaction; with `finish_tick` (a candle close) the
        tick of that close is marked done in the same transaction."""
        if fill["mode"] not in LEDGER_MODES:
            raise StoreError(f"a {fill['mode']} fill is not for the ledger")
        with self._transaction() as cur:
            cur.execute("INSERT INTO orders (cloid, symbol, t, action, side, size, price, reason, "
                        "mode, status, oid, created_ms, updated_ms, fill) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'filled', NULL, ?, ?, ?)",
                        (intent["cloid"], intent["symbol"], intent["t"], intent["action"],
                         intent["side"], intent["size"], intent["price"], intent["reason"],
                         fill["mode"], fill["t"], fill["t"], orjson.dumps(fill).decode()))
            cur.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, fee, "
                        "mode, action, reason, slippage, funding, pnl) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (fill["trade_id"], fill["cloid"], fill["symbol"], fill["t"], fill["side"],
                         fill["size"], fill["price"], fill["fee"], fill["mode"], fill["action"],
                         fill["reason"], fill["slippage"], fill.get("funding") or 0.0,
                         fill.get("pnl")))
            if finish_tick is not None:
                self._finish_tick(cur, fill["mode"], finish_tick, fill["t"])

    def closed_pnl(self, mode: str, start: int | None = None,
                   end: int | None = None) -> list[tuple[int, float]]:
        """(t, pnl) of every closing trade of a ledger, t in [start, end]: realized PnL net of
        costs."""
        sql, args = _time_range("SELECT t, pnl FROM trades WHERE mode = ? AND action = 'close' "
                                "AND pnl IS NOT NULL", [mode], start, end)
        return self.conn.execute(sql + " ORDER BY t", args).fetchall()

    def ledger(self, mode: str) -> Ledger:
        """What the risk rules need of a ledger (risk.state_of turns it into a RiskState)."""
        return Ledger(self.open_positions(mode), self.closed_pnl(mode), self.cooldown_until(mode),
                      self.paused(), self.halted(), self.account_value(mode))

    def size_decimals(self) -> dict[str, int]:
        """Lot sizes (szDecimals per coin) as the exchange's meta last said (backfill stores it)."""
        raw = self.get_state("exchange_meta")
        return orjson.loads(raw) if raw else {}

    def record_rejection(self, rec: dict, mode: str) -> None:
        self._batch("INSERT INTO rejections (symbol, t, action, reason, regime, mode) VALUES "
                    "(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(rec["symbol"], rec["t"], rec["action"], rec["reason"], rec.get("regime"),
                      mode)])

    def rejection_counts(self, mode: str, start: int, end: int) -> dict[str, int]:
        """Refused entries of a ledger with t in [start, end), by the check that refused them."""
        return dict(self.conn.execute(
            "SELECT reason, COUNT(*) FROM rejections WHERE mode = ? AND t >= ? AND t < ? "
            "GROUP BY reason", (mode, start, end)).fetchall())

    def trades(self, modes) -> list[tuple]:
        """Every trade of these ledgers in time order: (t, symbol, action, side, size, price,
        fee, funding, pnl, reason, slippage)."""
        marks = ",".join("?" * len(modes))
        return self.conn.execute(
            f"SELECT t, symbol, action, side, size, price, fee, funding, pnl, reason, slippage "
            f"FROM trades WHERE mode IN ({marks}) ORDER BY t, rowid", list(modes)).fetchall()

    # backtest runs -------------------------------------------------------------------------------

    def save_backtest_run(self, run_id: str, created_ms: int, params: dict, metrics: dict,
                          trades: list, equity: dict) -> None:
        self._batch("INSERT INTO backtest_runs (run_id, created_ms, params, metrics, trades, "
                    "equity) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                    [(run_id, created_ms, *(orjson.dumps(x).decode()
                                            for x in (params, metrics, trades, equity)))])

    def backtest_run(self, run_id: str | None = None) -> tuple | None:
        """(run_id, created_ms, params, metrics, trades, equity) of a run, the newest if no id;
        None when there is none."""
        sql = "SELECT run_id, created_ms, params, metrics, trades, equity FROM backtest_runs"
        row = self.conn.execute(sql + (" WHERE run_id = ?" if run_id else
                                       " ORDER BY created_ms DESC LIMIT 1"),
                                (run_id,) if run_id else ()).fetchone()
        return None if row is None else (row[0], row[1], *map(orjson.loads, row[2:]))

    # the tick journal ----------------------------------------------------------------------------

    def start_tick(self, mode: str, close: int, intents: list[dict], now_ms: int) -> None:
        """Journal a tick and the intents it decided, in one transaction, before any executes."""
        with self._transaction() as cur:
            cur.execute("INSERT INTO ticks (mode, close, started_ms) VALUES (?, ?, ?)",
                        (mode, close, now_ms))
            cur.executemany("INSERT INTO tick_intents (mode, close, seq, cloid, intent) VALUES "
                            "(?, ?, ?, ?, ?)",
                            [(mode, close, k, i["cloid"], orjson.dumps(i).decode())
                             for k, i in enumerate(intents)])

    def tick_intents(self, mode: str, close: int) -> list[dict] | None:
        """The intents journalled for a tick, in order; None when the tick was never started."""
        if self.conn.execute("SELECT 1 FROM ticks WHERE mode = ? AND close = ?",
                             (mode, close)).fetchone() is None:
            return None
        return [orjson.loads(r[0]) for r in self.conn.execute(
            "SELECT intent FROM tick_intents WHERE mode = ? AND close = ? ORDER BY seq",
            (mode, close))]

    def unfinished_intents(self, mode: str) -> list[dict]:
        """The intents of ticks that never finished, with no fill in the ledger, in order."""
        rows = self.conn.execute(
            "SELECT i.intent FROM tick_intents i JOIN ticks k USING (mode, close) WHERE "
            "i.mode = ? AND k.done_ms IS NULL AND NOT EXISTS (SELECT 1 FROM trades t WHERE "
            "t.cloid = i.cloid AND t.mode = i.mode) ORDER BY i.close, i.seq", (mode,))
        return [orjson.loads(r[0]) for r in rows]

    def finish_tick(self, mode: str, close: int, now_ms: int) -> None:
        with self._transaction() as cur:
            self._finish_tick(cur, mode, close, now_ms)

    @staticmethod
    def _finish_tick(cur, mode: str, close: int, now_ms: int) -> None:
        cur.execute("UPDATE ticks SET done_ms = ? WHERE mode = ? AND close = ? AND done_ms IS "
                    "NULL", (now_ms, mode, close))

    def last_tick(self, mode: str) -> int | None:
        """The close of the last tick of this mode that ran to its end."""
        return self.conn.execute("SELECT MAX(close) FROM ticks WHERE mode = ? AND done_ms IS NOT "
                                 "NULL", (mode,)).fetchone()[0]

    # bot state: the loop's flags and caches, each through its own accessor -------------------

    def paused(self) -> bool:
        return self.get_state("paused") == "1"

    def set_paused(self, paused: bool, now_ms: int) -> None:
        self.set_state("paused", "1" if paused else "0", now_ms)

    def halted(self) -> bool:
        """The losing-weeks halt: new entries blocked (set at the loop's start)."""
        return self.get_state("halt_entries") == "1"

    def set_halted(self, halted: bool, now_ms: int) -> None:
        self.set_state("halt_entries", "1" if halted else "0", now_ms)

    def cooldown_until(self, mode: str) -> int | None:
        """When entries may start again after a stop loss in a ledger (ms), if a cooldown ran."""
        value = self.get_state(cooldown_key(mode))
        return int(value) if value else None

    def set_cooldown_until(self, mode: str, t: int, now_ms: int) -> None:
        self.set_state(cooldown_key(mode), str(t), now_ms)

    def mids(self) -> tuple[float, dict[str, float]]:
        """The mid feed's last prices and when (wall s) they arrived; (0, {}) before any."""
        raw = self.get_state("mids")
        snap = orjson.loads(raw) if raw else {}
        return snap.get("received_s", 0.0), snap.get("mids", {})

    def set_mids(self, mids: dict[str, float], received_s: float) -> None:
        self.set_state("mids", orjson.dumps({"received_s": received_s, "mids": mids}).decode(),
                       int(received_s * 1000))

    def set_exchange_meta(self, sz_decimals: dict[str, int], now_ms: int) -> None:
        self.set_state("exchange_meta", orjson.dumps(sz_decimals).decode(), now_ms)

    def account_value(self, mode: str) -> float | None:
        """The exchange's account value at the last reconciliation (live), if any."""
        value = self.get_state(f"account_value:{mode}")
        return float(value) if value else None

    # the alert outbox ---------------------------------------------------------------------------

    def queue_alert(self, channels, event: str, text: str, key: str | None, now_ms: int) -> None:
        self._batch("INSERT OR IGNORE INTO outbox (channel, event, key, text, created_ms) "
                    "VALUES (?, ?, ?, ?, ?)", [(c, event, key, text, now_ms) for c in channels])

    def next_alert(self, channel: str) -> tuple | None:
        """(id, event, text, tries) of the channel's oldest message not yet delivered."""
        return self.conn.execute("SELECT id, event, text, tries FROM outbox WHERE channel = ? "
                                 "AND status = 'pending' ORDER BY id LIMIT 1",
                                 (channel,)).fetchone()

    def alert_sending(self, alert_id: int) -> None:
        """Marked before its request leaves: a crash mid-delivery leaves it `sending`."""
        self._batch("UPDATE outbox SET status = 'sending' WHERE id = ?", [(alert_id,)])

    def alerts_interrupted(self) -> int:
        """Messages a crashed sender left mid-delivery become `unknown` (never resent: they may
        have arrived); how many."""
        with self._transaction() as cur:
            return cur.execute("UPDATE outbox SET status = 'unknown', error = 'a crash during "
                               "its delivery: not sent again' WHERE status = 'sending'").rowcount

    def alert_done(self, alert_id: int, status: str, now_ms: int, error: str | None = None):
        """sent, failed (for good), or pending again after a try that did not deliver."""
        self._batch("UPDATE outbox SET status = ?, tries = tries + 1, sent_ms = ?, error = ? "
                    "WHERE id = ?", [(status, now_ms if status == "sent" else None, error,
                                      alert_id)])

    def alerts(self, channel: str | None = None) -> list[tuple]:
        """(channel, event, text, status, tries) of every message, oldest first."""
        sql = "SELECT channel, event, text, status, tries FROM outbox"
        args = ()
        if channel:
            sql, args = sql + " WHERE channel = ?", (channel,)
        return self.conn.execute(sql + " ORDER BY id", args).fetchall()

    # the live order journal -------------------------------------------------------------------

    def journal_order(self, cloid: str, intent: str, symbol: str, kind: str, seq: int,
                      px: float | None, now_ms: int) -> None:
        """An order about to be sent (status `sending`): written before the request leaves."""
        self._batch("INSERT OR IGNORE INTO live_orders (cloid, intent, symbol, kind, seq, px, "
                    "status, t, updated_ms) VALUES (?, ?, ?, ?, ?, ?, 'sending', ?, ?)",
                    [(cloid, intent, symbol, kind, seq, px, now_ms, now_ms)])

    def update_order(self, cloid: str, status: str, now_ms: int, oid: int | None = None,
                     px: float | None = None) -> None:
        with self._transaction() as cur:
            row = cur.execute("SELECT oids FROM live_orders WHERE cloid = ?", (cloid,)).fetchone()
            if row is None:
                return
            oids = orjson.loads(row[0])
            if oid is not None and oid not in oids:
                oids.append(oid)
            cur.execute("UPDATE live_orders SET status = ?, oids = ?, px = COALESCE(?, px), "
                        "updated_ms = ? WHERE cloid = ?",
                        (status, orjson.dumps(oids).decode(), px, now_ms, cloid))

    def live_orders(self, intent: str | None = None, symbol: str | None = None,
                    kinds=None, statuses=None) -> list[LiveOrder]:
        sql, args = "SELECT cloid, intent, symbol, kind, seq, px, oids, status, t FROM " \
                    "live_orders WHERE 1 = 1", []
        for col, val in (("intent", intent), ("symbol", symbol)):
            if val is not None:
                sql, args = sql + f" AND {col} = ?", args + [val]
        for col, vals in (("kind", kinds), ("status", statuses)):
            if vals is not None:
                sql += f" AND {col} IN ({', '.join('?' * len(vals))})"
                args += list(vals)
        return [LiveOrder(*r[:6], tuple(orjson.loads(r[6])), *r[7:])
                for r in self.conn.execute(sql + " ORDER BY t, seq", args)]

    def slippage_stats(self, mode: str) -> dict:
        """The ledger's fills' adverse slippage in bps: count, mean and max."""
        n, mean, worst = self.conn.execute(
            "SELECT COUNT(slippage), AVG(slippage), MAX(slippage) FROM trades WHERE mode = ? "
            "AND slippage IS NOT NULL", (mode,)).fetchone()
        return {"count": n, "mean_bps": None if mean is None else round(mean * 10_000, 3),
                "max_bps": None if worst is None else round(worst * 10_000, 3)}

    def resize_position(self, cloid: str, size: float, mode: str) -> None:
        """The open trade of `cloid` takes the exchange's size (reconciliation)."""
        self._batch("UPDATE trades SET size = ? WHERE cloid = ? AND mode = ? AND action = 'open'",
                    [(size, cloid, mode)])

    def set_state(self, key: str, value: str, now_ms: int) -> None:
        self._batch("INSERT INTO bot_state (key, value, updated_ms) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                    "updated_ms = excluded.updated_ms", [(key, value, now_ms)])

    def get_state(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM bot_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
