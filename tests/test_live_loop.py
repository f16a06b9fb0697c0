"""The live trade loop end to end against hl-sim: entries, stop fills, signal exits and a restart
that adopts a position and re-places a missing stop; answers lost at 30% with no order placed
twice; SIGKILLs at random points. Each ends with the ledger equal to the exchange's fills."""

import os
import random
import signal
import subprocess
import time

import orjson
import pytest
import requests

from conftest import popen, run
from livehelp import KEY, ME, info, sim_stats
from loophelp import log_rows, loose_config, ticks, wait_for
from perpbot.store import Store

pytestmark = pytest.mark.slow

SPEED = "20"                # a 1-minute candle every 3 s
# the exchange's weight budget is per wall minute: a clock 20 times faster earns 20 times more
FAST = ("--speed", SPEED, "--weight-per-min", "24000")


def live_loop_config(tmp_path, url):
    return loose_config(tmp_path, url,
                        exchange={"api_url": url, "clock": "sim", "retries": 2, "backoff_s": 0.01,
                                  "backoff_max_s": 0.05, "timeout_s": 3.0, "network": "testnet"},
                        execution={"entry_timeout_s": 1.5},
                        backtest={"exchange_stop_pct": 0.002})


def start_loop(cfg, stderr=subprocess.DEVNULL):
    return popen("supervise", "--mode", "live", "--config", cfg, stdout=subprocess.DEVNULL,
                 stderr=stderr, env=dict(os.environ, HL_PRIVATE_KEY=KEY))


def stop_loop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=60)


def ledger_records(db):
    with Store.open_readonly(db) as st:
        return [orjson.loads(r[0]) for r in st.conn.execute(
            "SELECT o.fill FROM trades t JOIN orders o USING (cloid) WHERE t.mode = 'live' "
            "ORDER BY t.t, t.rowid")]


def assert_ledger_is_the_exchange(db, url, hand_oids=()):
    """Every exchange fill (but those of orders placed by hand) in exactly one ledger trade, at
    the exchange's size, volume-weighted price and fee; the open positions the same."""
    fills = info(url, "userFills")
    by_oid: dict = {}
    for f in fills:
        by_oid.setdefault(f["oid"], []).append(f)
    seen: set = set()
    recs = ledger_records(db)
    for rec in recs:
        if rec["reason"] in ("reconciled_adopted", "reconciled_missing"):
            continue
        oids = set(rec["oids"])
        assert not oids & seen, rec
        seen |= oids
        got = [f for o in oids for f in by_oid.get(o, [])]
        size = sum(float(f["sz"]) for f in got)
        if rec["action"] == "open" or rec["reason"] not in ("exchange_stop", "reconciled_closed"):
            assert rec["size"] == pytest.approx(size, abs=1e-9), rec
        assert rec["price"] == pytest.approx(
            sum(float(f["px"]) * float(f["sz"]) for f in got) / size, rel=1e-9), rec
        assert rec["fee"] == pytest.approx(sum(float(f["fee"]) for f in got), rel=1e-9), rec
    assert set(by_oid) - set(hand_oids) == seen
    held = {p["position"]["coin"]: float(p["position"]["szi"])
            for p in info(url, "clearinghouseState")["assetPositions"]}
    with Store.open_readonly(db) as st:
        mine = {p.symbol: p.size * (1 if p.side == "long" else -1)
                for p in st.open_positions("live")}
    assert mine == pytest.approx(held)
    return recs


def test_live_loop_trades_and_a_restart_adopts_and_replaces_the_stop(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "2", *FAST, "--seed", "5",
            "--account", f"{ME}=100000")
    cfg = live_loop_config(tmp_path, s.url)
    assert run("backfill", "--config", cfg).returncode == 0
    log = tmp_path / "perp-bot.log"
    p = start_loop(cfg, stderr=subprocess.PIPE)
    try:
        start = next(r for r in wait_for(lambda: [r for r in log_rows(log)
                                                   if r.get("msg") == "live trading"]))
        assert start["network"] == "testnet" and start["account"] == ME
        assert start["account_value"] == 100000.0

        def traded():
            reasons = {r["reason"] for r in ledger_records(tmp_path / "perpbot.db")}
            return "exchange_stop" in reasons and len(reasons - {"exchange_stop"}) >= 2
        wait_for(traded, timeout=240, step=1.0)
        r = run("status", "--config", cfg)
        snap = orjson.loads(r.stdout)
        assert snap["mode"] == "live" and snap["live"]["network"] == "testnet"
        assert snap["risk"]["slippage"]["count"] >= 3
        # the key signs; it is never written anywhere
        secret = KEY[2:].encode()
        assert secret not in r.stdout and secret not in log.read_bytes()
        assert not [f for f in tmp_path.glob("perpbot.db*") if secret in f.read_bytes()]
    finally:
        assert stop_loop(p) == 0, p.stderr.read()[-3000:]
    recs = assert_ledger_is_the_exchange(tmp_path / "perpbot.db", s.url)
    assert {r["action"] for r in recs} == {"open", "close"}
    assert not [r for r in log_rows(log) if r.get("level") in ("error", "critical")]

    # while the loop is down: a position opened by hand, or the stop of ours cancelled by hand
    url = s.url
    from perpbot.hl import signing
    from perpbot.hl.account import LiveAccount
    from perpbot.hl.client import InfoClient
    from perpbot.hl.exchange import ExchangeClient, NonceSource
    from eth_account import Account
    with Store.open(tmp_path / "perpbot.db") as st:
        client = ExchangeClient(url, LiveAccount("testnet", ME, ME, Account.from_key(KEY)),
                                NonceSource(st, ME, lambda: requests.get(
                                    url + "/sim/time", timeout=5).json()["time"]),
                                InfoClient(url))
        hand = []
        held = info(url, "clearinghouseState")["assetPositions"]
        if held:
            for o in info(url, "frontendOpenOrders"):
                client.send(signing.cancel_action([(0, o["oid"])]))
        else:
            mid = float(requests.post(url + "/info", json={"type": "allMids"}).json()["ETH"])
            (st_,) = client.place([signing.order_wire(0, True, float(round(mid * 1.01)), 1.0,
                                                      False, {"limit": {"tif": "Ioc"}},
                                                      "0x" + "e" * 32)])
            hand.append(st_["filled"]["oid"])
    assert [o for o in info(url, "frontendOpenOrders") if o["isTrigger"]] == []
    n = len(log_rows(log))
    p = start_loop(cfg)
    try:
        wait_for(lambda: any(r.get("msg") == "stop placed" for r in log_rows(log)[n:]),
                 timeout=60)
        said = [r["msg"] for r in log_rows(log)[n:] if r.get("level") == "warning"]
        assert "reconciled: the position has no stop on the exchange; placing it" in said
        if hand:
            assert "reconciled: a position on the exchange is adopted" in said
        wait_for(lambda: len(ticks(log)) >= 3, timeout=60)
    finally:
        assert stop_loop(p) == 0
    assert_ledger_is_the_exchange(tmp_path / "perpbot.db", url, hand_oids=hand)
    assert sim_stats(url)["duplicate_cloids"] == 0


def test_answers_lost_at_thirty_percent_never_place_an_order_twice(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "2", *FAST, "--seed", "7",
            "--account", f"{ME}=100000", "--fault", "drop:0.3")
    cfg = live_loop_config(tmp_path, s.url)
    assert run("backfill", "--config", cfg).returncode == 0
    p = start_loop(cfg)
    try:
        wait_for(lambda: len(ledger_records(tmp_path / "perpbot.db")) >= 6, timeout=240,
                 step=1.0)
    finally:
        stop_loop(p)
    stats = sim_stats(s.url)
    assert stats["fault_drop"] >= 5
    assert stats["duplicate_cloids"] == 0
    assert_ledger_is_the_exchange(tmp_path / "perpbot.db", s.url)


def test_sigkills_of_the_live_loop_leave_the_ledger_equal_to_the_exchange(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "2", *FAST, "--seed", "11",
            "--account", f"{ME}=100000")
    cfg = live_loop_config(tmp_path, s.url)
    assert run("backfill", "--config", cfg).returncode == 0
    rng = random.Random(3)
    kills = 0
    deadline = time.time() + 150
    while time.time() < deadline and kills < 12:
        p = start_loop(cfg)
        time.sleep(rng.uniform(2.0, 8.0))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        kills += 1
    p = start_loop(cfg)
    try:
        log = tmp_path / "perp-bot.log"
        n = len(ticks(log))
        wait_for(lambda: len(ticks(log)) >= n + 3 and
                 len(ledger_records(tmp_path / "perpbot.db")) >= 4, timeout=180, step=1.0)
    finally:
        assert stop_loop(p) == 0
    assert sim_stats(s.url)["duplicate_cloids"] == 0
    assert_ledger_is_the_exchange(tmp_path / "perpbot.db", s.url)
