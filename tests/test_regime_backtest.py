"""The regime over stored history, as a backtest sees it: candles and regime snapshots in the
store, `fetch-candles --from-store | compute-indicators | emit-signals` over them. CRISIS blocks
an entry that would otherwise open, HIGH_RISK tightens the thresholds (and halves the size),
DOVISH lets in a long that NORMAL would not; a snapshot taken after a candle never affects it."""

import subprocess
import sys

import numpy as np
import orjson
import pytest

from conftest import BIN, write_config
from perpbot import risk
from perpbot.params import RegimeConfig
from perpbot.regime import Regime, size_multiplier
from perpbot.store import Store

TF_MS = 15 * 60_000
T0 = 1_767_225_600_000          # 2026-01-01


def make_candles(n=3000, seed=7):
    """A mean-reverting 15-minute market with spikes, so the strategy has entries to make."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = 0.97 * x[i - 1] + rng.normal(0, 0.004) + (rng.normal(0, 0.02) if rng.random() < 0.03 else 0)
    c = np.round(2000 * np.exp(x), 2)
    o = np.r_[c[0], c[:-1]]
    h = np.round(np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.0005, n))), 2)
    l = np.round(np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.0005, n))), 2)
    h, l = np.maximum(h, np.maximum(o, c)), np.minimum(l, np.minimum(o, c))
    return [("ETH", "15m", T0 + i * TF_MS, T0 + (i + 1) * TF_MS - 1, float(o[i]), float(h[i]),
             float(l[i]), float(c[i]), 10.0, 5) for i in range(n)]


def signals(cfg, *extra):
    cmd = (f"'{sys.executable}' '{BIN / 'fetch-candles'}' ETH --tf 15m --from-store --config '{cfg}'"
           f" | '{sys.executable}' '{BIN / 'compute-indicators'}' --config '{cfg}'"
           f" | '{sys.executable}' '{BIN / 'emit-signals'}' --config '{cfg}' {' '.join(extra)}")
    r = subprocess.run(cmd, shell=True, capture_output=True, check=True)
    return {s["t"]: s for s in map(orjson.loads, r.stdout.splitlines())}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    d = tmp_path_factory.mktemp("regime_bt")
    cfg = write_config(d, None, symbols=["ETH"], data={"timeframes": ["15m"]},
                       strategy={"timeframe": "15m"})
    with Store.open(d / "perpbot.db") as st:
        st.insert_candles(make_candles())
    return d, cfg


def store_regimes(d, regimes):
    with Store.open(d / "perpbot.db") as st:
        st.conn.execute("DELETE FROM regime_snapshots")
        for r in regimes:
            st.insert_regime(r)


def snapshot_for(t, level):
    """A snapshot taken 10 minutes before candle t closes, in force at that close."""
    taken = t + TF_MS - 10 * 60_000
    return Regime(taken, level, None, None, taken, f"test {level}")


def test_regimes_over_stored_history(history):
    d, cfg = history
    store_regimes(d, [])
    normal = signals(cfg)
    assert {s["regime"] for s in normal.values()} == {"NORMAL"}       # no snapshots: NORMAL
    entries = sorted(t for t, s in normal.items() if s["action"] in ("LONG", "SHORT"))
    assert len(entries) >= 10
    dovish_normal = signals(cfg, "--regime", "DOVISH")
    dovish_only = sorted(t for t, s in dovish_normal.items()
                         if s["action"] == "LONG" and normal[t]["action"] == "NONE")
    assert dovish_only, "the market should offer a long that only DOVISH lets in"
    high = signals(cfg, "--regime", "HIGH_RISK")
    tight = [t for t in entries if high[t]["action"] == "NONE"]
    kept = [t for t in entries if high[t]["action"] == normal[t]["action"]]
    assert tight and kept                     # some entries are too shallow for HIGH_RISK

    crisis_t, tight_t, kept_t, dovish_t = entries[0], tight[0], kept[-1], dovish_only[0]
    store_regimes(d, [snapshot_for(crisis_t, "CRISIS"), snapshot_for(tight_t, "HIGH_RISK"),
                      snapshot_for(kept_t, "HIGH_RISK"), snapshot_for(dovish_t, "DOVISH")])
    got = signals(cfg)
    # CRISIS blocks the entry NORMAL would have made
    assert normal[crisis_t]["action"] in ("LONG", "SHORT")
    assert got[crisis_t]["action"] == "NONE" and got[crisis_t]["regime"] == "CRISIS"
    assert "CRISIS allows exits only" in got[crisis_t]["reason"]
    # HIGH_RISK: a shallow entry is refused, a deep one still made, with half the size
    assert got[tight_t]["action"] == "NONE" and got[tight_t]["thresholds"]["long_entry_z"] == 2.5
    assert got[kept_t]["action"] == normal[kept_t]["action"] and got[kept_t]["regime"] == "HIGH_RISK"
    # ... and risk-gate sizes it at half: the same signal under NORMAL and under HIGH_RISK
    sizes = {}
    for level in ("NORMAL", "HIGH_RISK"):
        line = orjson.dumps({**got[kept_t], "regime": level}) + b"\n"
        r = subprocess.run([sys.executable, str(BIN / "risk-gate"), "--config", str(cfg),
                            "--sz-decimals", "ETH=4"], input=line, capture_output=True, check=True)
        (intent,) = map(orjson.loads, r.stdout.splitlines())
        sizes[level] = intent["size"]
    price = got[kept_t]["price"]
    assert sizes["NORMAL"] == risk.entry_size(10_000, price, 4)
    assert sizes["HIGH_RISK"] == pytest.approx(sizes["NORMAL"] / 2, abs=1e-4)
    assert size_multiplier("HIGH_RISK", RegimeConfig()) == 0.5
    # DOVISH lets in the long
    assert got[dovish_t]["action"] == "LONG" and got[dovish_t]["regime"] == "DOVISH"


def test_a_snapshot_never_reaches_back_and_goes_stale(history):
    d, cfg = history
    store_regimes(d, [])
    normal = signals(cfg)
    t = sorted(t for t, s in normal.items() if s["action"] in ("LONG", "SHORT"))[0]
    store_regimes(d, [snapshot_for(t, "CRISIS")])       # taken 5 minutes after candle t opens
    got = signals(cfg)
    assert got[t - TF_MS]["regime"] == "NORMAL"          # closed before it was taken
    assert got[t]["regime"] == "CRISIS"                  # closes after it was taken
    # in force for its staleness limit (60 min), then the fail-safe until a fresh one comes
    taken = t + TF_MS - 10 * 60_000
    for k in range(1, 8):
        close = t + (k + 1) * TF_MS
        want = "CRISIS" if close - taken <= 60 * 60_000 else "HIGH_RISK"
        assert got[t + k * TF_MS]["regime"] == want, k
