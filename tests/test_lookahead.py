"""The look-ahead check: a clean strategy passes; a copy of the rules peeking one candle ahead is
caught; indicators over any prefix are the prefix of the full run, bit for bit; warm-up."""

import numpy as np
import orjson
import pytest

from conftest import market_rows, market_store, run
from test_backtest_engine import NO_REGIME, market
from perpbot import lookahead
from perpbot.backtest import engine
from perpbot.indicators import compute_arrays
from perpbot.params import IndicatorParams

H = 3_600_000


def test_the_strategy_as_it_is_looks_at_nothing_ahead():
    cd = market("EURUSD-1h")
    points, found = lookahead.check("EURUSD", "1h", cd, [], NO_REGIME, engine.Setup(), 0, cuts=20)
    assert len(points) == 20 and found == []


def test_a_one_candle_peek_is_caught_at_the_cuts_last_row():
    cd = market("EURUSD-1h")
    setup = engine.Setup()

    def peeking(h, lo, c):          # a copy of the rules: z at t takes the larger of t and t + 1
        ind = compute_arrays(h, lo, c, setup.indicators)
        z = ind["z"].copy()
        z[:-1] = np.fmax(z[:-1], z[1:])
        return {**ind, "z": z}
    points, found = lookahead.check("EURUSD", "1h", cd, [], NO_REGIME, setup, 0, cuts=20,
                                    compute=peeking)
    z = [f for f in found if f.kind == "indicator"]
    assert z and all(f.field == "z" for f in z)
    # each at the row just before its cut: what freqtrade's few entry points would not see
    assert all(f.t == f.cut - H for f in z)
    assert len({f.cut for f in z}) >= 5           # where z rose into the next candle
    assert any(f.kind == "decision" for f in found)
    rec = found[0].record()
    assert set(rec) == {"cut", "kind", "t", "field", "full", "cut_run"}


@pytest.mark.parametrize("name", ["EURUSD-1h", "UNITTEST_BTC-1m", "ADA_BTC-5m",
                                  "XRP_USDT_USDT-5m-futures"])
def test_indicators_over_a_prefix_are_the_prefix_bit_for_bit(name):
    """Round 1's blocked recursion rounded a prefix's last rows differently (RSI and ADX,
    up to 1e-14): an exact threshold could have decided differently live."""
    cd = market(name)
    full = compute_arrays(cd["h"], cd["l"], cd["c"], IndicatorParams())
    for cut in np.random.default_rng(7).integers(30, len(cd["c"]), 40):
        part = compute_arrays(cd["h"][:cut], cd["l"][:cut], cd["c"][:cut], IndicatorParams())
        for k, v in part.items():
            assert np.array_equal(v, full[k][:cut], equal_nan=True), (k, cut)


def test_warm_up_finite_windows_forget_exactly_wilder_takes_hundreds():
    cd = market("EURUSD-1h")
    p = IndicatorParams()
    w = lookahead.warmup(cd, p)
    assert w["z"] == w["bb_mid"] == p.bb_window - 1 and w["hurst"] == p.hurst_window - 1
    # Wilder's smoothing (a = 13/14) forgets a factor e a 13.5 candles: 1e-9 of 100 takes ~340
    assert 250 < w["rsi"] < 450 and 250 < w["adx"] < 600
    # and with that much history the value is within 1e-9 of the full run's
    e = len(cd["c"]) - 1
    part = compute_arrays(cd["h"][e - w["adx"]:], cd["l"][e - w["adx"]:], cd["c"][e - w["adx"]:], p)
    full = compute_arrays(cd["h"], cd["l"], cd["c"], p)
    assert abs(part["adx"][-1] - full["adx"][-1]) <= 1e-9


def test_the_stage_exits_0_on_a_clean_strategy_and_says_the_warm_up(tmp_path):
    cfg = market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h", rows=market_rows("EURUSD-1h", "EURUSD", "1h"))
    r = run("lookahead-check", "--symbol", "EURUSD", "--cuts", "5", "--config", cfg,
            "--param", "indicators.window=300")
    assert r.returncode == 0, r.stderr
    doc = orjson.loads(r.stdout)
    assert doc["differences"] == 0 and len(doc["cuts"]) == 5 and doc["findings"] == []
    assert doc["warmup_candles"]["adx"] > 300
    # the loop's 300-candle window is shorter than ADX needs: one warning line says so
    lines = [orjson.loads(x) for x in r.stderr.splitlines()]
    assert [x["level"] for x in lines] == ["warning"] and "adx needs" in lines[0]["msg"]


def test_the_configured_warm_up_covers_what_is_measured():
    """IndicatorParams.converged (walk-forward windows and a backtest's --start load that much
    history) is at least the warm-up lookahead-check measures on real markets."""
    for name in ("EURUSD-1h", "UNITTEST_BTC-1m", "ADA_BTC-5m"):
        for p in (IndicatorParams(), IndicatorParams(rsi_period=7, adx_period=21, hurst_window=60)):
            measured = lookahead.warmup(market(name), p)
            assert max(v for v in measured.values() if v is not None) <= p.converged(), (name, p)
