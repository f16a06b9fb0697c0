"""The supervised paper trade loop end to end against hl-sim at high speed: at least 50 candles,
the trades exactly those the stages give when the same ticks are run by hand through the pipe,
status answering during ticks; and a crash test: SIGKILL at random points, then restart."""

import random
import signal
import sqlite3
import subprocess
import sys
import time

import orjson
import pytest

from conftest import BIN, popen, run, write_config
from perpbot.store import Store

SPEED = 40          # a 1-minute candle every 1.5 s


def loop_config(tmp_path, url, db="perpbot.db"):
    # loose thresholds and a narrow band so that 50 one-minute candles see trades
    return write_config(tmp_path, url, symbols=["ETH"],
                        data={"db_path": db, "timeframes": ["1m"], "history_days": 1.0},
                        strategy={"timeframe": "1m"},
                        indicators={"bb_k": 1.0},
                        signals={"entry_z": 1.0, "rsi_overbought": 55.0, "rsi_oversold": 45.0,
                                 "adx_max": 100.0, "exit_z": 0.5},
                        risk={"cooldown_minutes": 3.0, "timeout_hours": 0.25})


def kill_stages(config_path: str) -> None:
    """SIGKILL every process running with this config (the stages of a tick in flight)."""
    import os
    from pathlib import Path
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if config_path.encode() in cmd and any(b"/bin/" in c for c in cmd):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def ticks(log_path):
    return [r["close"] for r in map(orjson.loads, log_path.read_bytes().splitlines())
            if r.get("msg") == "tick"]


@pytest.mark.slow
def test_paper_loop_matches_the_stages_run_by_hand(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "2", "--speed", str(SPEED), "--seed", "5")
    cfg = loop_config(tmp_path, s.url)
    assert run("backfill", "--config", cfg).returncode == 0
    log = tmp_path / "perp-bot.log"
    sup = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    answers, during = [], 0
    try:
        deadline = time.time() + 240
        while time.time() < deadline and (not log.exists() or len(ticks(log)) < 52):
            r = run("status", "--config", cfg)
            if r.returncode == 0:
                st = orjson.loads(r.stdout)
                answers.append(st)
                lt = st["last_tick"]
                # asked while a tick was running: its last tick is older than the clock's candle
                if lt and st["clock"] - lt["close"] >= 60_000:
                    during += 1
            time.sleep(0.2)
    finally:
        sup.send_signal(signal.SIGTERM)
        code = sup.wait(timeout=60)
    assert code == 0, sup.stderr.read()[-2000:]
    closes = ticks(log)
    assert len(closes) >= 50
    assert answers and all(a["ok"] for a in answers) and during > 0
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        trades = st.conn.execute("SELECT cloid, action, symbol, t FROM trades ORDER BY t, rowid").fetchall()
        fills = {c: st.fill_by_cloid(c, "paper") for c, *_ in trades}
        candles = st.candles("ETH", "1m")
        funding = st.funding("ETH")
        meta = st.get_state("exchange_meta")
    assert len(trades) >= 2, "the loop should have traded in 50 candles"

    # by hand: the same ticks through the same pipe, on a store that holds the same candles and
    # gets the loop's own fills as they happen (the mids they filled at cannot be replayed)
    hand = loop_config(tmp_path, None, db="replay.db")
    with Store.open(tmp_path / "replay.db") as rp:
        rp.insert_candles(candles)
        rp.insert_funding(funding)
        rp.set_state("exchange_meta", meta, 0)
    got = []
    for close in closes:
        cmd = (f"'{sys.executable}' '{BIN / 'fetch-candles'}' ETH --tf 1m --from-store "
               f"--end {close - 60_000} --last 400 --config '{hand}'"
               f" | '{sys.executable}' '{BIN / 'compute-indicators'}' --config '{hand}'"
               f" | '{sys.executable}' '{BIN / 'emit-signals'}' --latest --config '{hand}'"
               f" | '{sys.executable}' '{BIN / 'risk-gate'}' --config '{hand}'")
        out = subprocess.run(cmd, shell=True, capture_output=True, check=True).stdout
        intents = [r for r in map(orjson.loads, out.splitlines()) if r["type"] == "intent"]
        with Store.open(tmp_path / "replay.db") as rp:
            for i in intents:
                got.append(i["cloid"])
                assert i["cloid"] in fills, f"tick {close}: the loop did not fill {i}"
                rp.record_fill(i, fills[i["cloid"]])
    assert got == [c for c, *_ in trades]


@pytest.mark.slow
def test_sigkill_at_random_points_never_fills_twice_nor_loses_a_fill(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "2", "--speed", str(SPEED), "--seed", "9")
    cfg = loop_config(tmp_path, s.url)
    assert run("backfill", "--config", cfg).returncode == 0
    rng = random.Random(1)
    db = tmp_path / "perpbot.db"
    seen_open = []
    for k in range(20):
        sup = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 3.5))
        sup.kill()
        if k % 2:                       # half the time the stages in flight die with it
            kill_stages(str(cfg))
        sup.wait()
        with Store.open_readonly(db) as st:
            pos = st.open_position("ETH", "paper")
            if pos:
                seen_open.append(pos["cloid"])
    # a clean run afterwards: the loop carries on from the store
    sup = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(12)
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(timeout=60) == 0
    con = sqlite3.connect(db)
    trades = con.execute("SELECT cloid, action, side FROM trades ORDER BY t, rowid").fetchall()
    orders = con.execute("SELECT cloid FROM orders").fetchall()
    assert len(trades) >= 4, "the loop should have traded across the restarts"
    # never twice: one trade per cloid, and opens and closes alternate
    assert len({c for c, *_ in trades}) == len(trades)
    actions = [a for _, a, _ in trades]
    assert all(a != b for a, b in zip(actions, actions[1:])), actions
    # never lost: every order has its trade (they are written together)
    assert {c for (c,) in orders} == {c for c, *_ in trades}
    # positions open at a crash carried on: each was later closed, or is still the open one
    last_open = trades[-1][0] if trades[-1][1] == "open" else None
    closed_after = {trades[i][0] for i in range(len(trades) - 1) if trades[i + 1][1] == "close"}
    for c in seen_open:
        assert c in closed_after or c == last_open
