import sqlite3
import threading

import pytest

from perpbot import store as store_mod
from perpbot.store import Store, StoreError


def candle(t, c=100.0, symbol="ETH", tf="1m"):
    return (symbol, tf, t, t + 59_999, c, c + 1, c - 1, c, 5.0, 3)


def test_schema_tables_wal_and_version(tmp_path):
    s = Store.open(tmp_path / "a.db")
    tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"candles", "funding_rates", "prediction_snapshots", "trades", "orders", "bot_state",
            "backtest_runs"} <= tables
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == store_mod.BUSY_TIMEOUT_MS
    assert s.version() == store_mod.SCHEMA_VERSION


def test_insert_is_idempotent_and_counts_new_rows(tmp_path):
    s = Store.open(tmp_path / "a.db")
    assert s.insert_candles([candle(0), candle(60_000)]) == 2
    assert s.insert_candles([candle(0, c=999.0), candle(120_000)]) == 1
    rows = s.candles("ETH", "1m")
    assert [r[2] for r in rows] == [0, 60_000, 120_000]
    assert rows[0][7] == 100.0          # the first value stays: final candles never change
    assert s.insert_funding([("ETH", 5, 0.0001, None), ("ETH", 5, 0.5, 0.1)]) == 1
    assert s.funding("ETH") == [("ETH", 5, 0.0001, None)]


def test_failed_batch_writes_nothing(tmp_path):
    s = Store.open(tmp_path / "a.db")
    with pytest.raises(sqlite3.IntegrityError):
        s.insert_candles([candle(0), ("ETH", "1m", 60_000, None, 1, 1, 1, 1, 1, 1)])
    assert s.count_candles() == 0
    assert not s.conn.in_transaction


def test_candles_range_and_last(tmp_path):
    s = Store.open(tmp_path / "a.db")
    s.insert_candles([candle(i * 60_000) for i in range(10)])
    assert [r[2] // 60_000 for r in s.candles("ETH", "1m", 120_000, 300_000)] == [2, 3, 4, 5]
    assert [r[2] // 60_000 for r in s.candles("ETH", "1m", last=3)] == [7, 8, 9]
    assert [r[2] // 60_000 for r in s.candles("ETH", "1m", end=300_000, last=2)] == [4, 5]
    assert s.last_candle_time("ETH", "1m") == 540_000
    assert s.last_candle_time("ETH", "5m") is None


def test_readonly_opener_cannot_write(tmp_path):
    Store.open(tmp_path / "a.db").close()
    ro = Store.open_readonly(tmp_path / "a.db")
    with pytest.raises(StoreError, match="read-only"):
        ro.insert_candles([candle(0)])
    with pytest.raises(sqlite3.OperationalError):
        ro.conn.execute("INSERT INTO bot_state VALUES ('k', 'v', 0)")


def test_readonly_opener_refuses_missing_store(tmp_path):
    with pytest.raises(StoreError, match="no store here"):
        Store.open_readonly(tmp_path / "none.db")


def test_migrations_run_forward_from_an_older_version(tmp_path, monkeypatch):
    path = tmp_path / "a.db"
    Store.open(path).close()
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS +
                        ["ALTER TABLE trades ADD COLUMN note TEXT"])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(store_mod.MIGRATIONS))
    s = Store.open(path)
    assert s.version() == store_mod.SCHEMA_VERSION
    cols = [r[1] for r in s.conn.execute("PRAGMA table_info(trades)")]
    assert "note" in cols


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / "a.db"
    s = Store.open(path)
    s.conn.execute(f"PRAGMA user_version = {store_mod.SCHEMA_VERSION + 1}")
    s.close()
    with pytest.raises(StoreError, match="newer than this perpbot"):
        Store.open(path)


def test_concurrent_writers_share_the_file(tmp_path):
    """A backfill and the trade loop write at once: WAL plus busy_timeout, no lost rows."""
    path = tmp_path / "a.db"
    Store.open(path).close()
    errors = []

    def writer(offset):
        try:
            s = Store.open(path)
            for k in range(50):
                s.insert_candles([candle((offset + k * 2) * 60_000 + i, symbol="ETH") for i in range(20)])
            s.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Store.open_readonly(path).count_candles() == 2 * 50 * 20


def test_state_upsert(tmp_path):
    s = Store.open(tmp_path / "a.db")
    s.set_state("cooldown_until", "1", 10)
    s.set_state("cooldown_until", "2", 20)
    assert s.get_state("cooldown_until") == "2"
    assert s.get_state("nothing") is None
