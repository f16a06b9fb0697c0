"""The backtest engine's semantics, on hand-built candles and on the real markets."""

import json

import numpy as np
import pytest

from conftest import shared_file
from perpbot import metrics
from perpbot.backtest import engine
from perpbot.params import BacktestParams, CostParams, RegimeConfig, SignalParams
from perpbot.regime import Regime, RegimeBook

H = 3_600_000
NO_REGIME = RegimeBook([], RegimeConfig())
FIXED = CostParams(slippage_fixed_bps=0.0)


def market(name):
    d = json.loads(shared_file(f"markets/{name}.json").read_text())
    cd = {k: np.array([float(x[k]) for x in d]) for k in "ohlc"}
    cd["t"] = np.array([x["t"] for x in d])
    return cd


LOOSE = SignalParams(entry_z=1.5, rsi_overbought=60.0, rsi_oversold=40.0, adx_max=100.0)


def setup(**bt):
    """Loose signals (the synthetic frames are gentle) and no slippage."""
    return engine.Setup(signals=LOOSE, costs=FIXED, backtest=BacktestParams(**bt))


def test_no_look_ahead_a_shorter_run_reproduces_every_trade_closed_inside_it():
    cd = market("EURUSD-1h")
    full = engine.run("EURUSD", "1h", cd, [], NO_REGIME, engine.Setup(), 0)
    cut = len(cd["t"]) * 3 // 5
    part = engine.run("EURUSD", "1h", {k: v[:cut] for k, v in cd.items()}, [], NO_REGIME,
                      engine.Setup(), 0)
    end = cd["t"][cut - 1] + H
    inside = [x for x in full.trips if x["exit_t"] < end]
    got = [x for x in part.trips if x["exit_reason"] != "backtest_end"]
    assert len(inside) >= 10
    assert got == inside


def frame(closes, spread=0.001):
    c = np.asarray(closes, dtype=float)
    o = np.r_[c[0], c[:-1]]
    return {"t": np.arange(len(c)) * H, "o": o, "c": c,
            "h": np.maximum(o, c) * (1 + spread), "l": np.minimum(o, c) * (1 - spread)}


def oscillation(n=400, seed=3):
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = 0.8 * x[i - 1] + rng.normal(0, 0.01)
    return 100 * np.exp(x)


def test_entry_delay_and_cancel_if_signal_gone():
    cd = frame(oscillation())
    now = engine.run("X", "1h", cd, [], NO_REGIME, setup(entry_delay=0), 2)
    keep = engine.run("X", "1h", cd, [], NO_REGIME,
                      setup(entry_delay=1, cancel_if_signal_gone=False), 2)
    later = engine.run("X", "1h", cd, [], NO_REGIME, setup(entry_delay=1), 2)
    # the first signal fills at its own close, or one candle later when delayed
    assert keep.trips[0]["entry_t"] == now.trips[0]["entry_t"] + H
    assert keep.cancelled == 0 and now.cancelled == 0
    # one-candle spikes are common here: many delayed entries find their signal gone
    assert later.cancelled > 0
    assert len(later.trips) < len(keep.trips)


def test_exchange_stop_on_the_candles_low():
    # falls to a long entry, then one candle's low dips 4% below it and recovers
    c = list(oscillation(60, seed=1))
    cd = frame(c)
    sp = SignalParams(entry_z=1.0, rsi_oversold=60.0, rsi_overbought=40.0, adx_max=100.0)
    base = engine.Setup(signals=sp, costs=FIXED, backtest=BacktestParams(entry_delay=0))
    r = engine.run("X", "1h", cd, [], NO_REGIME, base, 2)
    assert r.trips
    trip = r.trips[0]
    i = int(np.searchsorted(cd["t"] + H, trip["entry_t"]))
    k = i + 1
    cd["l"][k] = trip["entry_price"] * 0.95 if trip["side"] == "long" else cd["l"][k]
    cd["h"][k] = trip["entry_price"] * 1.05 if trip["side"] == "short" else cd["h"][k]
    r2 = engine.run("X", "1h", cd, [], NO_REGIME, base, 2)
    stopped = r2.trips[0]
    assert stopped["exit_reason"] == "exchange_stop"
    stop = trip["entry_price"] * (0.97 if trip["side"] == "long" else 1.03)
    assert stopped["exit_price"] == pytest.approx(stop)
    assert stopped["exit_t"] == cd["t"][k] + H
    # a taker exit: 0.045% of the stop notional, plus the maker entry
    assert stopped["fees"] == pytest.approx(trip["size"] * (trip["entry_price"] * 0.00015 +
                                                            stop * 0.00045))


def test_open_position_closes_at_the_end():
    from perpbot.params import RiskParams
    cd = frame(oscillation(200, seed=11))
    never = engine.Setup(signals=SignalParams(entry_z=1.5, rsi_overbought=60.0,
                                              rsi_oversold=40.0, adx_max=100.0, exit_z=-10.0,
                                              stop_z=100.0),
                         risk=RiskParams(timeout_hours=1e6, capital_stop_pct=10.0),
                         costs=FIXED, backtest=BacktestParams(entry_delay=0,
                                                              exchange_stop_pct=10.0))
    r = engine.run("X", "1h", cd, [], NO_REGIME, never, 2)
    (trip,) = r.trips
    assert trip["exit_reason"] == "backtest_end" and trip["exit_t"] == cd["t"][-1] + H
    assert trip["exit_price"] == pytest.approx(cd["c"][-1])
    assert r.equity[-1] == pytest.approx(10_000 + trip["pnl"])


def test_crisis_snapshot_blocks_entries_and_the_summary_says_normal_without_snapshots():
    cd = market("EURUSD-1h")
    free = engine.run("EURUSD", "1h", cd, [], NO_REGIME, engine.Setup(), 0)
    assert free.regime_note == "no regime snapshots: the run is NORMAL throughout"
    crisis = [Regime(int(t), "CRISIS", 0.9, None, int(t), "test") for t in cd["t"]]
    blocked = engine.run("EURUSD", "1h", cd, [], RegimeBook(crisis, RegimeConfig()),
                         engine.Setup(), 0)
    assert free.trips and not blocked.trips and blocked.regime_note == ""


def test_funding_is_paid_by_side_over_the_hours_held():
    cd = market("XRP_USDT_USDT-5m-futures")
    fund = json.loads(shared_file("markets/XRP_USDT_USDT-8h-funding.json").read_text())
    rows = [("XRP", f["time"], float(f["fundingRate"]), 0.0) for f in fund]
    r = engine.run("XRP", "5m", cd, rows, NO_REGIME, engine.Setup(), 0)
    assert r.trips
    # 8-hourly rates: most hours have none (counted as zero and reported)
    assert r.missing_funding_hours > 0
    paid = [x for x in r.trips if x["funding"] != 0.0]
    for x in paid:
        sign = -1 if x["side"] == "long" else 1
        assert np.sign(x["funding"]) in (sign, -sign)
    s = metrics.summary(r.trips, r.equity_t, r.equity)
    assert s["trades"] == len(r.trips)


@pytest.mark.parametrize("name, tf, scale, delay, fill_at", [
    ("EURUSD-1h", "1h", 1.0, 1, "close"), ("XRP_USDT_USDT-5m-futures", "5m", 1.0, 0, "close"),
    ("LTC_BTC-5m", "5m", 1e5, 2, "open"), ("ADA_BTC-5m", "5m", 1e8, 1, "open")])
def test_skipping_idle_candles_changes_nothing(name, tf, scale, delay, fill_at):
    """The fast path steps only candles where something could happen: same trades, same
    equity curve, same cancels and refusals as stepping every candle."""
    cd = market(name)
    for k in "ohlc":
        cd[k] = cd[k] * scale
    t = cd["t"]
    levels = ["NORMAL", "HIGH_RISK", "DOVISH", "CRISIS", "HAWKISH"]
    book = RegimeBook([Regime(int(t[k]), levels[(k // 200) % 5], None, None, int(t[k]), "")
                       for k in range(0, len(t), 50)], RegimeConfig())
    s = engine.Setup(signals=LOOSE, backtest=BacktestParams(entry_delay=delay, fill_at=fill_at))
    slow = engine.run("X", tf, cd, [], book, s, 2, fast=False)
    fast = engine.run("X", tf, cd, [], book, s, 2, fast=True)
    assert len(slow.trips) >= 5
    assert fast.trips == slow.trips
    assert np.array_equal(fast.equity, slow.equity) and np.array_equal(fast.equity_t, slow.equity_t)
    assert (fast.cancelled, fast.rejected) == (slow.cancelled, slow.rejected)


def test_backtest_cli_stores_the_run_and_writes_parquet(tmp_path):


    import orjson
    import pyarrow.parquet as pq

    from conftest import market_rows, market_store, run
    from perpbot.store import Store
    rows = market_rows("EURUSD-1h", "EURUSD", "1h")
    cfg = market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h", sz_decimals=None, rows=rows)
    r = run("backtest", "--config", cfg, "--symbol", "EURUSD", "--sz-decimals", "EURUSD=0",
            "--param", "signals.entry_z=2.2", "--out", tmp_path / "out", "--trades")
    assert r.returncode == 0, r.stderr
    summary = orjson.loads(r.stdout)
    assert summary["params"]["signals"]["entry_z"] == 2.2
    assert summary["regime"] == "no regime snapshots: the run is NORMAL throughout"
    m = summary["metrics"]
    assert m["trades"] == len(summary["trips"]) > 0
    trades = pq.read_table(tmp_path / "out" / "trades.parquet").to_pylist()
    assert [x["pnl"] for x in trades] == [x["pnl"] for x in summary["trips"]]
    assert pq.read_table(tmp_path / "out" / "equity.parquet").num_rows == len(rows)
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        (run_id, metrics_json) = st.conn.execute("SELECT run_id, metrics FROM backtest_runs").fetchone()
    assert run_id == summary["run_id"] and orjson.loads(metrics_json)["metrics"] == m
    bad = run("backtest", "--config", cfg, "--symbol", "EURUSD", "--param", "signals.entry=2")
    assert bad.returncode == 2 and b'unknown key \\"signals.entry\\"' in bad.stderr

