"""poll-regime as a real subprocess against hl-sim's stand-in prediction markets."""

import json
import time

import orjson
import pytest

from conftest import run, write_config
from perpbot.store import Store
from perpbot.timeutil import parse_time

START = parse_time("2026-05-01T00:00")
MIN = 60_000
SCENARIO = {
    "polymarket": [{"slug": "war-by-june", "conditionId": "0x" + "a" * 64,
                    "points": [[0, 0.10], [1, 0.45], [2, 0.75]]}],
    "kalshi": [{"ticker": "FED-CUT", "points": [[0, 0.95]]},
               {"ticker": "BROKEN", "points": [[0, {"market": {"status": "active",
                                                                 "yes_bid_dollars": "1.7"}}]]}],
}


def expected_war(t):
    minutes = (t - START) / MIN
    return 0.75 if minutes >= 2 else 0.45 if minutes >= 1 else 0.10


@pytest.fixture
def setup(sim, tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(SCENARIO))
    s = sim("--synthetic", "ETH", "--history-days", "1", "--start", str(START), "--speed", "60",
            "--prediction", str(path))

    def config(markets, **regime):
        return write_config(tmp_path, s.url, symbols=["ETH"], regime={
            "markets": markets, "polymarket_url": s.url + "/gamma",
            "kalshi_url": s.url + "/kalshi", "retries": 0, **regime})
    return s, config, tmp_path


def poll(cfg):
    r = run("poll-regime", "--config", cfg)
    assert r.returncode == 0, r.stderr
    (rec,) = [orjson.loads(x) for x in r.stdout.splitlines()]
    return rec, [orjson.loads(x) for x in r.stderr.splitlines()]


def test_levels_follow_the_markets_and_are_stored(setup):
    s, config, tmp = setup
    cfg = config([{"source": "polymarket", "id": "war-by-june", "category": "war_risk"},
                  {"source": "kalshi", "id": "FED-CUT", "category": "rate_change"}])
    seen = []
    for wait in (0.0, 1.2, 1.2):
        time.sleep(wait)
        rec, _ = poll(cfg)
        war = expected_war(rec["t"])
        assert rec["war_risk"] == pytest.approx(war)
        assert rec["rate_change"] == pytest.approx((0.95 - 0.5) * 2)
        want = "CRISIS" if war >= 0.7 else "HIGH_RISK" if war >= 0.4 else "DOVISH"
        assert rec["level"] == want
        assert rec["sources"]["war-by-june"]["status"] == "ok"
        seen.append(rec["level"])
    assert len(set(seen)) >= 2
    assert run("validate-records", input=b"").returncode == 0
    with Store.open_readonly(tmp / "perpbot.db") as st:
        rows = st.conn.execute("SELECT source, market_id, category, probability FROM "
                               "prediction_snapshots ORDER BY t, source").fetchall()
        regimes = st.regimes()
    assert len(rows) == 6 and {r[1] for r in rows} == {"war-by-june", "FED-CUT"}
    assert [r.level for r in regimes] == seen


def test_unreadable_sources_fall_back_to_high_risk_with_a_reason(setup):
    s, config, tmp = setup
    cfg = config([{"source": "polymarket", "id": "war-by-june", "category": "war_risk"},
                  {"source": "kalshi", "id": "BROKEN", "category": "rate_change"}])
    rec, diags = poll(cfg)
    assert rec["level"] == "HIGH_RISK"
    assert rec["sources"]["BROKEN"]["status"] == "skipped"
    assert "yes_bid_dollars: 1.7 is outside 0..1" in rec["sources"]["BROKEN"]["reason"]
    assert "fail-safe HIGH_RISK" in rec["reason"]
    assert any(d["level"] == "warning" and "BROKEN" in d["msg"] for d in diags)
    # a fresh poll, then the rate source goes away: the fresh level holds
    good = config([{"source": "polymarket", "id": "war-by-june", "category": "war_risk"},
                   {"source": "kalshi", "id": "FED-CUT", "category": "rate_change"}])
    fresh, _ = poll(good)
    down = write_config(tmp, s.url, symbols=["ETH"], regime={
        "markets": [{"source": "polymarket", "id": "war-by-june", "category": "war_risk"},
                    {"source": "kalshi", "id": "FED-CUT", "category": "rate_change"}],
        "polymarket_url": s.url + "/gamma", "kalshi_url": "http://127.0.0.1:9", "retries": 0})
    held, _ = poll(down)
    assert held["level"] == fresh["level"] and held["fresh_t"] == fresh["t"]
    assert held["sources"]["FED-CUT"]["status"] == "unreachable"
    assert "holding" in held["reason"]


def test_regime_records_validate(setup):
    s, config, tmp = setup
    cfg = config([{"source": "kalshi", "id": "FED-CUT", "category": "rate_change"}])
    r = run("poll-regime", "--config", cfg)
    assert run("validate-records", "--type", "regime", input=r.stdout).returncode == 0
