"""The daemon's edges: status with and without a loop, the control commands, the socket's mode,
the losing-weeks halt, and the mid feed reconnecting after the exchange drops it."""

import contextlib
import os
import signal
import stat
import subprocess
import time

import orjson
import pytest
import requests

from conftest import popen, run, write_config
from loophelp import backfilled_loop
from perpbot.feed import MidFeed
from perpbot.hl.client import InfoClient
from perpbot.store import Store

DAY = 86_400_000


def test_status_without_a_loop_says_so_and_exits_1(tmp_path):
    cfg = write_config(tmp_path, None)
    r = run("status", "--config", cfg)
    assert r.returncode == 1 and r.stdout == b""
    (line,) = r.stderr.splitlines()
    assert orjson.loads(line)["msg"] == \
        f"no trade loop running (no daemon on {tmp_path / 'perp-bot.sock'})"


def wait_for(pred, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def loop(sim, tmp_path):
    s, cfg, p = backfilled_loop(sim, tmp_path, "20", stderr=subprocess.PIPE)
    sock = tmp_path / "perp-bot.sock"
    wait_for(sock.exists)
    yield s, cfg, tmp_path, p
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def status(cfg, *args):
    r = run("status", "--config", cfg, *args)
    return r.returncode, orjson.loads(r.stdout)


def test_control_commands_and_socket_mode(loop):
    s, cfg, tmp, p = loop
    assert stat.S_IMODE(os.stat(tmp / "perp-bot.sock").st_mode) == 0o600
    code, st = status(cfg)
    assert code == 0 and st["mode"] == "paper" and st["risk"]["paused"] is False
    assert status(cfg, "--command", "pause")[1] == {"ok": True, "paused": True}
    assert status(cfg)[1]["risk"]["paused"] is True
    assert status(cfg, "--command", "resume")[1]["paused"] is False
    # emergency close of an open position, at the mid, and entries paused afterwards; the
    # clock stands still meanwhile, and its candle's tick is over, so that no tick closes the
    # position first (its timeout)
    frozen = requests.post(s.url + "/sim/clock", json={"speed": 0}, timeout=5).json()["time"]
    wait_for(lambda: (status(cfg)[1]["last_tick"] or {}).get("close") == frozen - frozen % 60_000)
    with Store.open(tmp / "perpbot.db") as st:
        st.conn.execute("INSERT INTO orders (cloid, symbol, t, action, side, size, price, mode, "
                        "status, created_ms, updated_ms) VALUES ('0x" + "a" * 32 + "', 'ETH', 1,"
                        " 'open', 'short', 0.5, 3000.0, 'paper', 'filled', 1, 1)")
        st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, fee, "
                        "mode, action) VALUES ('p1', '0x" + "a" * 32 + "', 'ETH', 1, 'short', 0.5,"
                        " 3000.0, 0.2, 'paper', 'open')")
    wait_for(lambda: status(cfg)[1]["feed"]["connected"])
    code, reply = status(cfg, "--command", "emergency_close")
    assert code == 0 and reply["paused"] is True
    assert reply["note"] == "entries stay paused until resume"
    (fill,) = reply["closed"]
    assert fill["action"] == "close" and fill["reason"] == "emergency_close" and fill["size"] == 0.5
    assert fill["taker"] and fill["fee"] == pytest.approx(fill["price"] * 0.5 * 0.00045)
    with Store.open_readonly(tmp / "perpbot.db") as st:
        assert st.open_position("ETH", "paper") is None
    assert status(cfg)[1]["risk"]["paused"] is True
    # an unknown command is refused, not fatal
    from perpbot import ipc
    assert ipc.request(tmp / "perp-bot.sock", {"cmd": "dance"})["ok"] is False
    assert status(cfg)[0] == 0
    # SIGTERM: the loop stops cleanly and removes its socket
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    assert not (tmp / "perp-bot.sock").exists()
    log = [orjson.loads(x) for x in (tmp / "perp-bot.log").read_bytes().splitlines()]
    assert log[-1]["msg"] == "trade loop stopped"


def losing_history(db, now, open_position=False):
    with Store.open(db) as st:
        for k, pnl in enumerate((-50.0, -20.0, -10.0)):
            t = now - k * 7 * DAY - DAY
            st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, "
                            "fee, mode, action, pnl) VALUES (?, ?, 'ETH', ?, 'long', 1.0, 100.0, "
                            "0.1, 'paper', 'close', ?)", (f"c{k}", f"0x{k:032x}", t, pnl))
        if open_position:
            st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, "
                            "fee, mode, action) VALUES ('o', '0xff', 'ETH', ?, 'long', 1.0, 100.0,"
                            " 0.1, 'paper', 'open')", (now - 1000,))


def test_losing_weeks_halt_start_up_unless_forced(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"])
    now = requests.get(s.url + "/sim/time", timeout=5).json()["time"]
    losing_history(tmp_path / "perpbot.db", now)
    r = run("supervise", "--config", cfg, timeout=60)
    assert r.returncode == 1
    assert orjson.loads(r.stderr.splitlines()[-1])["msg"] == \
        "halted: the last 3 7-day windows all lost money; start with --force to trade anyway"
    p = popen("supervise", "--config", cfg, "--force", stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
    wait_for((tmp_path / "perp-bot.sock").exists)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0


def test_losing_weeks_with_positions_open_block_entries_only(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"])
    now = requests.get(s.url + "/sim/time", timeout=5).json()["time"]
    losing_history(tmp_path / "perpbot.db", now, open_position=True)
    p = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for((tmp_path / "perp-bot.sock").exists)
        assert status(cfg)[1]["risk"]["halted"] is True
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


@contextlib.contextmanager
def connected_feed(url, db):
    """A mid feed on hl-sim at `url` writing to the store `db`, connected with a first mid."""
    Store.open(db).close()
    feed = MidFeed(url.replace("http", "ws") + "/ws", lambda: Store.open(db),
                   InfoClient(url)).start()
    try:
        wait_for(lambda: feed.connected and feed.mids.get("ETH"))
        yield feed
    finally:
        feed.stop.set()
        feed.thread.join(timeout=10)


def test_feed_reconnects_after_a_drop_and_keeps_mids_fresh(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1", "--speed", "60")
    db = tmp_path / "perpbot.db"
    with connected_feed(s.url, db) as feed:
        assert requests.post(s.url + "/sim/drop-ws", timeout=5).json()["dropped"] == 1
        wait_for(lambda: feed.reconnects >= 1 and feed.connected)
        before = feed.last_msg
        wait_for(lambda: feed.last_msg > before)
        with Store.open_readonly(db) as st:
            snap = orjson.loads(st.get_state("mids"))
        assert snap["mids"]["ETH"] > 0 and time.time() - snap["received_s"] < 3


def test_a_failed_stage_is_logged_and_the_next_candle_runs(sim, tmp_path):
    s, cfg, p = backfilled_loop(sim, tmp_path, "30")
    log = tmp_path / "perp-bot.log"

    def rows():
        return [orjson.loads(x) for x in log.read_bytes().splitlines()] if log.exists() else []
    try:
        wait_for(lambda: any(r["msg"] == "tick" for r in rows()))
        # the exchange refuses a request (HTTP 400): fetch-candles fails (exit 1), the tick is
        # logged as failed and the loop waits for the next candle
        requests.post(s.url + "/sim/fault", json={"path": "/info", "count": 1, "status": 400},
                      timeout=5)
        failed = wait_for(lambda: [r for r in rows() if r["msg"].startswith("tick failed")])
        assert failed[0]["exit_codes"]["fetch-candles"] == 1
        after = failed[0]["ts"]
        wait_for(lambda: [r for r in rows() if r["msg"] == "tick" and r["ts"] > after])
        code, st = status(cfg)
        assert code == 0 and st["errors"][0]["msg"].startswith("tick failed")
        assert p.poll() is None                       # the daemon carried on
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def test_secrets_never_reach_the_log_or_the_socket(sim, tmp_path):
    key = "0x" + "ab" * 32
    (tmp_path / ".env").write_text(f"HL_PRIVATE_KEY={key}\nTELEGRAM_BOT_TOKEN=123:SECRET\n")
    s = sim("--synthetic", "ETH", "--history-days", "1", "--speed", "30")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], data={"history_days": 0.5})
    p = popen("supervise", "--config", cfg, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for((tmp_path / "perp-bot.sock").exists)
        wait_for(lambda: (tmp_path / "perp-bot.log").exists() and
                 b'"tick"' in (tmp_path / "perp-bot.log").read_bytes())
        r = run("status", "--config", cfg)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    everything = r.stdout + r.stderr + out + err + (tmp_path / "perp-bot.log").read_bytes()
    assert b"ab" * 32 not in everything and b"SECRET" not in everything


def test_a_locked_store_is_one_line_not_a_traceback(tmp_path):
    import sqlite3
    cfg = write_config(tmp_path, None, symbols=["ETH"])
    with Store.open(tmp_path / "perpbot.db") as st:
        st.set_state("paused", "1", 0)           # the entry is refused, and the refusal stored
    holder = sqlite3.connect(tmp_path / "perpbot.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        signal = {"type": "signal", "v": 1, "symbol": "ETH", "tf": "1m", "t": 1_700_000_000_000,
                  "action": "LONG", "reason": "x", "price": 100.0, "regime": "NORMAL",
                  "thresholds": {}}
        r = run("risk-gate", "--sz-decimals", "ETH=2", "--config", cfg,
                input=orjson.dumps(signal) + b"\n", env={"PERPBOT_BUSY_TIMEOUT_MS": "200"},
                timeout=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.returncode == 75
    assert b"Traceback" not in r.stderr
    assert orjson.loads(r.stderr.splitlines()[-1])["msg"].startswith("store error: database is locked")


def test_feed_stores_every_pushed_mid_not_only_its_catch_up(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1")
    requests.post(s.url + "/sim/clock", json={"speed": 0}, timeout=5)
    db = tmp_path / "perpbot.db"
    with connected_feed(s.url, db) as feed:
        for _ in range(3):                      # the price moves with the clock: pushed, stored
            now = requests.get(s.url + "/sim/time", timeout=5).json()["time"]
            requests.post(s.url + "/sim/clock", json={"time": now + 60_000}, timeout=5)
            mid = float(requests.post(s.url + "/info", json={"type": "allMids"},
                                      timeout=5).json()["ETH"])

            def stored():
                with Store.open_readonly(db) as st:
                    return orjson.loads(st.get_state("mids"))["mids"]["ETH"] == mid
            wait_for(stored, timeout=5)
        assert feed.reconnects == 0
