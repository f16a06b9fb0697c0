"""The supervised paper trade loop end to end against hl-sim at high speed: at least 50 candles,
the trades exactly those the stages give when the same ticks are run by hand through the pipe,
status answering during ticks; and a crash test: a hundred SIGKILLs at random points, each
followed by a restart, give the trades of an uninterrupted run."""

import random
import signal
import sqlite3
import subprocess
import sys
import time

import orjson
import pytest

from conftest import BIN, popen, run
from loophelp import loose_config, set_clock, wait_for
from perpbot.store import Store

SPEED = 40          # a 1-minute candle every 1.5 s


def loop_config(tmp_path, url, db="perpbot.db"):
    return loose_config(tmp_path, url, db)


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


T0 = 1_772_625_600_000          # 2026-03-04T12:00Z
CANDLES = 30
KILLS = 100


def stepped_run(sim, tmp_path, name: str, rng: random.Random | None) -> tuple[list, dict]:
    """The paper loop over CANDLES one-minute candles on hl-sim's stepped clock (the same
    prices at the same times in every run): the clock moves to the next candle once the loop has
    finished the last. With `rng`, the loop is SIGKILLed at random points, at least KILLS times,
    and started again at once. Returns the trades and where the kills landed."""
    s = sim("--synthetic", "ETH", "--history-days", "2", "--start", str(T0 + 1000), "--seed", "9")
    set_clock(s.url, T0 + 1000, speed=0)
    d = tmp_path / name
    d.mkdir()
    cfg = loose_config(d, s.url)
    assert run("backfill", "--config", cfg).returncode == 0
    db = d / "perpbot.db"

    def state(close, con=None):
        con = con or sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        row = con.execute("SELECT done_ms FROM ticks WHERE mode = 'paper' AND close = ?",
                          (close,)).fetchone()
        if row is None:
            return "before the journal"
        if row[0] is not None:
            return "tick done"
        filled = con.execute("SELECT COUNT(*) FROM tick_intents i JOIN trades t USING (cloid) "
                             "WHERE i.mode = 'paper' AND i.close = ? AND t.mode = 'paper'",
                             (close,)).fetchone()[0]
        return "filled, tick not done" if filled else "journalled, nothing filled"

    def kill_point(close):
        """A third of the kills at a random time (start-up, deciding, executing, idle); the rest
        as soon as the tick's journal is seen (execute running), up to a few ms into it."""
        if rng.random() < 0.35:
            time.sleep(rng.uniform(0.0, 0.9))
            return
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        end = time.monotonic() + 5
        try:
            while time.monotonic() < end and state(close, con) == "before the journal":
                time.sleep(0.002)
        finally:
            con.close()
        time.sleep(rng.uniform(0.0, 0.005))

    landed: dict[str, int] = {}
    kills = 0
    sup = None
    try:
        for k in range(CANDLES):
            close = T0 + k * 60_000
            set_clock(s.url, close + 1000)
            target = 0 if rng is None else -(-(k + 1) * KILLS // CANDLES)   # spread evenly
            while True:
                if sup is None:
                    sup = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
                if kills < target:
                    kill_point(close)
                    sup.kill()
                    sup.wait()
                    sup = None
                    kills += 1
                    where = state(close)
                    landed[where] = landed.get(where, 0) + 1
                    continue
                wait_for(lambda: state(close) == "tick done", timeout=60, step=0.05)
                break
        wait_for(lambda: run("status", "--config", cfg).returncode == 0)   # up, then stopped
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=30) == 0
        sup = None
    finally:
        if sup is not None:
            sup.kill()
            sup.wait()
    con = sqlite3.connect(db)
    trades = con.execute("SELECT t, symbol, action, side, size, price, fee, pnl, cloid FROM "
                         "trades ORDER BY t, rowid").fetchall()
    orders = {c for (c,) in con.execute("SELECT cloid FROM orders")}
    con.close()
    assert orders == {t[-1] for t in trades}          # every order has its trade
    return trades, landed


@pytest.mark.slow
def test_a_hundred_sigkills_give_the_trades_of_an_uninterrupted_run(sim, tmp_path):
    reference, _ = stepped_run(sim, tmp_path, "clean", None)
    assert len(reference) >= 3, "the loop should trade in these candles"
    killed, landed = stepped_run(sim, tmp_path, "killed", random.Random(7))
    print("kills landed:", landed)
    assert len({t[-1] for t in killed}) == len(killed)           # no fill twice
    assert killed == reference                                    # none lost, none different
    assert sum(landed.values()) >= KILLS
    # the kills hit every stage of a tick: before the journal (deciding), after it (executing)
    assert landed.get("before the journal", 0) >= 10
    assert landed.get("journalled, nothing filled", 0) + \
        landed.get("filled, tick not done", 0) >= 5
