"""risk-gate and execute through real pipes: state from the store, the cooldown surviving a
restart, paper fills at the simulator's mid, and an intent never filled twice."""

import orjson
import pytest
import requests

from conftest import run, write_config
from perpbot.risk import cloid
from perpbot.store import Store
from perpbot.timeutil import parse_time

T = parse_time("2026-02-01T00:00")
M15 = 900_000


def signal(action, t=T, price=3000.0, symbol="ETH", exit=None, stop=False, regime="NORMAL"):
    s = {"type": "signal", "v": 1, "symbol": symbol, "tf": "15m", "t": t, "action": action,
         "reason": "test", "price": price, "regime": regime, "thresholds": {}}
    if exit:
        s.update(exit=exit, stop_loss=stop)
    return orjson.dumps(s) + b"\n"


def recs(r):
    assert r.returncode == 0, r.stderr
    return [orjson.loads(x) for x in r.stdout.splitlines()]


@pytest.fixture
def paper(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1", "--start", str(T + M15 + 1000))
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], data={"timeframes": ["15m"]},
                       strategy={"timeframe": "15m"})
    with Store.open(tmp_path / "perpbot.db") as st:
        st.set_state("exchange_meta", '{"ETH": 4}', 0)
    return s, cfg, tmp_path


def test_entry_then_fill_at_the_mid_and_never_twice(paper):
    s, cfg, tmp = paper
    intents = recs(run("risk-gate", "--config", cfg, input=signal("LONG")))
    (intent,) = intents
    assert intent["cloid"] == cloid("ETH", T, "open") and intent["size"] == 5.0   # 15000/3000
    mid = float(requests.post(s.url + "/info", json={"type": "allMids"}, timeout=5).json()["ETH"])
    line = orjson.dumps(intent) + b"\n"
    (fill,) = recs(run("execute", "--mode", "paper", "--config", cfg, input=line))
    assert fill["cloid"] == intent["cloid"] and fill["side"] == "long" and fill["size"] == 5.0
    assert fill["mid"] == pytest.approx(mid, rel=1e-3)         # the clock moved on a little
    assert fill["price"] == pytest.approx(fill["mid"] * (1 + fill["slippage"]))
    assert 0.0001 <= fill["slippage"] <= 0.0005
    assert fill["fee"] == pytest.approx(fill["price"] * 5.0 * 0.00015)
    # the same intent again, in a new process: answered with the recorded fill
    (again,) = recs(run("execute", "--mode", "paper", "--config", cfg, input=line))
    assert again == fill
    with Store.open_readonly(tmp / "perpbot.db") as st:
        assert st.conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 1
        assert st.open_position("ETH", "paper").size == 5.0
    # holding: a second LONG does nothing, a take profit closes with its realized PnL
    assert recs(run("risk-gate", "--config", cfg, input=signal("LONG", T + M15))) == []
    (close,) = recs(run("risk-gate", "--config", cfg,
                        input=signal("CLOSE", T + M15, exit="take_profit")))
    assert close["action"] == "close" and close["reason"] == "take_profit"
    (cfill,) = recs(run("execute", "--mode", "paper", "--config", cfg,
                        input=orjson.dumps(close) + b"\n"))
    sign_pnl = (cfill["price"] - fill["price"]) * 5.0 - fill["fee"] - cfill["fee"] + cfill["funding"]
    assert cfill["pnl"] == pytest.approx(sign_pnl)
    with Store.open_readonly(tmp / "perpbot.db") as st:
        assert st.open_position("ETH", "paper") is None


def test_cooldown_survives_a_restart(paper):
    s, cfg, tmp = paper
    with Store.open(tmp / "perpbot.db") as st:
        st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, fee, "
                        "mode, action) VALUES ('x', '0x1', 'ETH', ?, 'long', 1.0, 3000.0, 0.45, "
                        "'paper', 'open')", (T - M15,))
    (close,) = recs(run("risk-gate", "--config", cfg,
                        input=signal("CLOSE", T, exit="z_stop", stop=True)))
    assert close["stop_loss"] is True
    recs(run("execute", "--mode", "paper", "--config", cfg, input=orjson.dumps(close) + b"\n"))
    # a new risk-gate process, 15 minutes later: still cooling down (30 minutes)
    (rej,) = recs(run("risk-gate", "--config", cfg, input=signal("LONG", T + M15)))
    assert rej == {"type": "rejected", "v": 1, "symbol": "ETH", "t": T + M15, "action": "LONG",
                   "reason": "cooldown", "regime": "NORMAL"}
    (ok,) = recs(run("risk-gate", "--config", cfg, input=signal("LONG", T + 2 * M15)))
    assert ok["type"] == "intent"


def test_missing_lot_size_is_a_usage_error(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["XYZ"])
    r = run("risk-gate", "--config", cfg, input=signal("LONG", symbol="XYZ"))
    assert r.returncode == 2
    assert b"no lot size for XYZ: run backfill" in r.stderr
    r = run("risk-gate", "--config", cfg, "--sz-decimals", "XYZ=2", input=signal("LONG", symbol="XYZ"))
    assert recs(r)[0]["size"] == 5.0


def test_replay_mode_fills_at_the_intent_price(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["ETH"], costs={"slippage_fixed_bps": 1.0})
    Store.open(tmp_path / "perpbot.db").close()
    (intent,) = recs(run("risk-gate", "--config", cfg, "--sz-decimals", "ETH=4",
                         input=signal("SHORT", price=2000.0)))
    (fill,) = recs(run("execute", "--mode", "replay", "--config", cfg,
                       input=orjson.dumps(intent) + b"\n"))
    assert fill["t"] == T + M15 and fill["price"] == pytest.approx(2000.0 * (1 - 0.0001))
    assert run("execute", "--mode", "live", "--config", cfg, input=b"").returncode == 2
