"""The trade loop operates safely: one loop per store, replays never touch the ledger, the stages
die with the loop, and an exchange outage is ridden out."""

import os
import shutil
import signal
import subprocess
import sys
import time

import orjson
import pytest
import requests

from conftest import popen, replay_pipe, run, write_config
from loophelp import (backfilled_loop, log_rows, loop_processes, loose_config, set_clock,
                      sim_time, ticks, wait_for)
from perpbot.looplock import LoopLock, LoopRunning, guard_ledger
from perpbot.store import Store
from perpbot.timeutil import parse_time

T0 = parse_time("2026-03-04T12:00")        # a Wednesday


def status(cfg, *args):
    r = run("status", "--config", cfg, *args)
    return r.returncode, (orjson.loads(r.stdout) if r.stdout else None)


def stop(p, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        return p.wait(timeout=timeout)
    return p.returncode


# one loop per store ------------------------------------------------------------------------------

def test_the_lock_is_exclusive_names_its_holder_and_is_not_inherited(tmp_path):
    db = tmp_path / "perpbot.db"
    with LoopLock(db) as held:
        assert os.get_inheritable(held.fd) is False
        with pytest.raises(LoopRunning) as e:
            LoopLock(db).acquire()
        assert e.value.pid == os.getpid() and f"pid {os.getpid()}" in e.value.msg
        # a child (a stage) holds no descriptor of the lock file
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            time.sleep(0.2)
            fds = [os.readlink(f"/proc/{child.pid}/fd/{fd}")
                   for fd in os.listdir(f"/proc/{child.pid}/fd")]
            assert str(held.path) not in fds
        finally:
            child.kill()
            child.wait()
    LoopLock(db).acquire().release()            # released with its holder


def test_a_ledger_writer_runs_under_the_lock_or_as_the_holders_child(tmp_path):
    db = tmp_path / "perpbot.db"
    mine = guard_ledger(db)                    # nobody holds it: this process takes it
    assert mine is not None
    code = ("import sys; sys.path[:0] = %r; from perpbot.looplock import guard_ledger; "
            "print(guard_ledger(%r))" % (sys.path[:3], str(db)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "None"     # the holder's child may write
    mine.release()


def test_a_second_loop_on_the_store_exits_1_naming_the_first(sim, tmp_path):
    s, cfg, first = backfilled_loop(sim, tmp_path)
    sock, log = tmp_path / "perp-bot.sock", tmp_path / "perp-bot.log"
    try:
        wait_for(lambda: len(ticks(log)) >= 1)
        inode = os.stat(sock).st_ino
        t = time.monotonic()
        r = run("supervise", "--config", cfg, timeout=30)
        assert r.returncode == 1 and time.monotonic() - t < 5
        (line,) = r.stderr.splitlines()
        assert f"pid {first.pid}" in orjson.loads(line)["msg"]
        assert os.stat(sock).st_ino == inode             # the first one's socket untouched
        assert status(cfg)[1]["pid"] == first.pid
        n = len(ticks(log))
        wait_for(lambda: len(ticks(log)) > n)             # and it keeps ticking
        # the ledger belongs to the loop: a paper execute outside it is refused
        r = run("execute", "--mode", "paper", "--config", cfg, input=b"")
        assert r.returncode == 1 and f"pid {first.pid}" in r.stderr.decode()
        # SIGKILL leaves a stale socket file; a new loop starts without --force
        first.kill()
        first.wait()
        assert sock.exists()
        second = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: (status(cfg)[1] or {}).get("pid") == second.pid)
        finally:
            assert stop(second) == 0
    finally:
        stop(first)


# replays never touch the ledger -----------------------------------------------------------------

def replay(cfg) -> list[dict]:
    r = replay_pipe(cfg, "ETH", "1m")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return [f for f in map(orjson.loads, r.stdout.splitlines()) if f["type"] == "fill"]


def ledger_tables(db) -> dict:
    with Store.open_readonly(db) as st:
        return {t: st.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("trades", "orders", "bot_state", "ticks", "tick_intents", "rejections")}


def paper_history(cfg, t):
    """Two paper trades by hand through risk-gate and execute: a closed trip and an open one."""
    def sig(action, t, **kw):
        return orjson.dumps({"type": "signal", "v": 1, "symbol": "ETH", "tf": "1m", "t": t,
                             "action": action, "reason": "test", "price": 3000.0,
                             "regime": "NORMAL", "thresholds": {}, **kw}) + b"\n"
    for s in (sig("LONG", t - 300_000), sig("CLOSE", t - 240_000, exit="take_profit"),
              sig("SHORT", t - 180_000)):
        gate = run("risk-gate", "--config", cfg, input=s)
        assert gate.returncode == 0, gate.stderr
        ex = run("execute", "--mode", "paper", "--config", cfg, input=gate.stdout)
        assert ex.returncode == 0, ex.stderr


def test_a_replay_never_moves_the_paper_account(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "2", "--start", str(T0 + 1000), "--seed", "3")
    set_clock(s.url, T0 + 1000, speed=0)        # a clock that stands still: nothing moves
    cfg = loose_config(tmp_path, s.url)
    db = tmp_path / "perpbot.db"
    assert run("backfill", "--config", cfg).returncode == 0
    # the replay of a store with no paper history, for comparison
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(db, bare / "perpbot.db")
    bare_cfg = loose_config(bare, s.url)
    alone = replay(bare_cfg)
    assert len(alone) >= 4, "the replay should trade"

    paper_history(cfg, T0 + 1000)
    loop = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(ticks(tmp_path / "perp-bot.log")) >= 1)
        before = status(cfg)[1]
    finally:
        assert stop(loop) == 0
    week = ["--week", "2026-W10", "--json"]
    weekly = run("report", "weekly", *week, "--config", cfg)
    assert weekly.returncode == 0, weekly.stderr
    assert orjson.loads(weekly.stdout)["trades"] >= 1
    tables = ledger_tables(db)
    assert any(r[8] == "paper" for r in tables["trades"])

    with_history = replay(cfg)
    assert with_history == alone        # never answered with a paper fill, never a paper position
    assert ledger_tables(db) == tables

    loop = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        after = wait_for(lambda: status(cfg)[1])
    finally:
        assert stop(loop) == 0
    keys = ("equity", "realized_equity", "positions")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    assert after["risk"]["realized_today"] == before["risk"]["realized_today"]
    again = run("report", "weekly", *week, "--config", cfg)
    assert again.stdout == weekly.stdout


# the stages die with the loop -------------------------------------------------------------------

@pytest.fixture
def blocked_tick(sim, tmp_path):
    """A loop whose next tick has fetch-candles blocked on a request the exchange sits on."""
    s = sim("--synthetic", "ETH", "--history-days", "1", "--speed", "20")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], data={"history_days": 0.5},
                       exchange={"api_url": s.url, "clock": "sim", "timeout_s": 60.0,
                                 "retries": 0})
    assert run("backfill", "--config", cfg).returncode == 0
    p = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(ticks(tmp_path / "perp-bot.log")) >= 1)
    requests.post(s.url + "/sim/fault", json={"path": "/info", "count": 50, "delay_s": 50},
                  timeout=5)

    def fetching():
        return [pid for pid in loop_processes(cfg) if
                b"fetch-candles" in open(f"/proc/{pid}/cmdline", "rb").read()]
    wait_for(fetching, timeout=30)
    yield cfg, p
    if p.poll() is None:
        p.kill()
        p.wait()


def test_sigkill_of_the_loop_leaves_no_stage_running(blocked_tick):
    cfg, p = blocked_tick
    assert len(loop_processes(cfg)) >= 2             # the loop and its tick's stages
    p.kill()
    p.wait()
    t = time.monotonic()
    wait_for(lambda: not loop_processes(cfg), timeout=3)
    assert time.monotonic() - t < 3


def test_sigterm_abandons_a_stuck_tick_and_exits_0(blocked_tick):
    cfg, p = blocked_tick
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0 and time.monotonic() - t < 5
    wait_for(lambda: not loop_processes(cfg), timeout=3)


# outages -------------------------------------------------------------------------------------

def warnings(log, text):
    return [r for r in log_rows(log) if r.get("level") == "warning" and text in r["msg"]]


def test_started_while_the_exchange_is_unreachable_the_loop_answers_and_waits(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["ETH"])     # nothing listens at the URL
    log = tmp_path / "perp-bot.log"
    p = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        st = wait_for(lambda: status(cfg)[1], timeout=10)
        assert st["pid"] == p.pid
        wait_for(lambda: status(cfg)[1]["exchange"].startswith("unreachable since"))
        time.sleep(5)                                       # a few retries, two seconds apart
        assert p.poll() is None
        assert len(warnings(log, "exchange unreachable")) == 1
        assert [r for r in log_rows(log) if r.get("level") == "warning"] == \
            warnings(log, "exchange unreachable")           # one line for the whole outage
    finally:
        assert stop(p) == 0


@pytest.mark.slow
def test_an_outage_of_three_candles_is_ridden_out_with_no_gap(sim, tmp_path):
    s, cfg, p = backfilled_loop(sim, tmp_path, "20", stderr=subprocess.PIPE)      # 1m = 3 s
    log = tmp_path / "perp-bot.log"
    try:
        wait_for(lambda: len(ticks(log)) >= 2)
        down_from = sim_time(s.url)
        requests.post(s.url + "/sim/outage", json={"seconds": 9}, timeout=5)
        back_at = time.monotonic() + 9
        wait_for(lambda: status(cfg)[1]["exchange"].startswith("unreachable since"))
        assert status(cfg)[1]["pid"] == p.pid
        wait_for(lambda: time.monotonic() >= back_at, timeout=15)
        returned = sim_time(s.url)
        assert returned - down_from >= 3 * 60_000          # three candle periods went by
        wait_for(lambda: [c for c in ticks(log) if c >= returned], timeout=10)
        assert status(cfg)[1]["exchange"] == "ok"
        assert p.poll() is None
    finally:
        assert stop(p) == 0
    assert len(warnings(log, "exchange unreachable")) == 1
    assert len([r for r in log_rows(log) if r["msg"] == "exchange reachable again"]) == 1
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        t = [r[2] for r in st.candles("ETH", "1m")]
    assert all(b - a == 60_000 for a, b in zip(t, t[1:])), "a gap in the stored candles"
    assert t[-1] >= returned - 2 * 60_000
