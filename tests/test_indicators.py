"""Indicators against TA-Lib (an independent oracle) on the real candles, and their properties."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from conftest import shared_file
from perpbot import indicators as ind
from perpbot.params import IndicatorParams

talib = pytest.importorskip("talib", reason="TA-Lib (test extra) is the oracle for these tests")

MARKETS = ["UNITTEST_BTC-1m", "ADA_BTC-5m", "LTC_BTC-5m", "XRP_USDT_USDT-5m-futures", "EURUSD-1h"]


def load(name) -> pd.DataFrame:
    df = pd.DataFrame(json.loads(shared_file(f"markets/{name}.json").read_text()))
    for k in ("o", "h", "l", "c", "v"):
        df[k] = df[k].astype(float)
    return df


def assert_rel(got, want, rtol=1e-9):
    """Equal NaN pattern (the same warm-up) and equal values to rtol relative."""
    got, want = np.asarray(got), np.asarray(want)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert ok.sum() > 0
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=0)


@pytest.mark.parametrize("name", MARKETS)
def test_rsi_adx_bbands_equal_talib(name):
    df = load(name)
    c, h, l = df.c.to_numpy(), df.h.to_numpy(), df.l.to_numpy()
    res = ind.compute(df)
    assert_rel(res.rsi, talib.RSI(c, 14))
    assert_rel(res.adx, talib.ADX(h, l, c, 14))
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    assert_rel(res.bb_mid, middle)
    assert_rel(res.bb_upper, upper)
    assert_rel(res.bb_lower, lower)


@pytest.mark.parametrize("period", [2, 7, 30])
def test_other_periods_equal_talib(period):
    df = load("EURUSD-1h")
    c, h, l = df.c.to_numpy(), df.h.to_numpy(), df.l.to_numpy()
    assert_rel(ind.rsi(c, period), talib.RSI(c, period))
    assert_rel(ind.adx(h, l, c, period), talib.ADX(h, l, c, period))


def test_z_score_is_close_minus_sma_over_population_std():
    df = load("LTC_BTC-5m")
    roll = df.c.rolling(20)
    want = (df.c - roll.mean()) / roll.std(ddof=0)
    assert_rel(ind.compute(df).z, want, rtol=1e-8)     # pandas' rolling std carries its own error


def test_warmup_rows_and_params():
    df = load("XRP_USDT_USDT-5m-futures")
    p = IndicatorParams(z_window=10, bb_window=30, bb_k=1.5, rsi_period=9, adx_period=5,
                        hurst_window=50)
    res = ind.compute(df, p)
    first = {k: int(np.argmax(~np.isnan(res[k].to_numpy()))) for k in
             ("z", "bb_mid", "rsi", "adx", "hurst")}
    assert first == {"z": 9, "bb_mid": 29, "rsi": 9, "adx": 9, "hurst": 49}
    assert p.warmup() == 50
    upper, middle, _ = talib.BBANDS(df.c.to_numpy(), 30, 1.5, 1.5, 0)
    assert_rel(res.bb_upper, upper)


def test_recurse_matches_the_plain_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000)
    y, prev = np.empty(1000), 0.7
    for i, v in enumerate(x):
        prev = 0.9 * prev + v
        y[i] = prev
    np.testing.assert_allclose(ind.recurse(x, 0.9, 0.7), y, rtol=1e-12, atol=1e-14)
    assert len(ind.recurse(x[:5], 0.9, 0.0)) == 5


def test_adx_holds_where_dx_is_undefined():
    """A flat stretch (no range, no movement) leaves ADX where it was, as TA-Lib does."""
    rng = np.random.default_rng(5)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    c[120:] = c[119]
    h, l = c * 1.001, c * 0.999
    h[120:], l[120:] = c[119], c[119]
    got = ind.adx(h, l, c, 14)
    assert_rel(got, talib.ADX(h, l, c, 14))


# properties ------------------------------------------------------------------------------------

def candles(rng, n, kind="walk", start=100.0):
    """Random OHLC with h >= max(o, c) and l <= min(o, c)."""
    if kind == "walk":
        r = rng.normal(0, 0.01, n)
    elif kind == "revert":
        x = np.zeros(n)
        e = rng.normal(0, 0.01, n)
        for i in range(1, n):
            x[i] = 0.7 * x[i - 1] + e[i]          # strongly mean-reverting log price
        r = np.diff(np.r_[0.0, x])
    else:
        r = np.zeros(n)
        e = rng.normal(0, 0.01, n)
        for i in range(1, n):
            r[i] = 0.6 * r[i - 1] + e[i]          # persistent returns: a trending series
    c = start * np.exp(np.cumsum(r))
    o = np.r_[start, c[:-1]]
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.002, n)))
    l = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.002, n)))
    return pd.DataFrame({"t": np.arange(n) * 60_000, "o": o, "h": h, "l": l, "c": c,
                         "v": np.ones(n)})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(150, 700), cut=st.floats(0.2, 0.95))
def test_no_look_ahead(seed, n, cut):
    """Appending future candles never changes an earlier row."""
    df = candles(np.random.default_rng(seed), n)
    k = int(n * cut)
    full = ind.compute(df)
    head = ind.compute(df.iloc[:k])
    pd.testing.assert_frame_equal(head, full.iloc[:k], rtol=1e-12, atol=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1e-6, 3e-3, 0.5, 7.0, 1e4, 2.5e7]))
def test_scale_invariance(seed, k):
    """Scaling every price by k leaves z, RSI, ADX and Hurst unchanged."""
    df = candles(np.random.default_rng(seed), 300)
    scaled = df.copy()
    for col in ("o", "h", "l", "c"):
        scaled[col] = df[col] * k
    a, b = ind.compute(df), ind.compute(scaled)
    for col in ("z", "rsi", "adx", "hurst"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-9, atol=1e-9, err_msg=col)
    np.testing.assert_allclose(b.bb_upper, a.bb_upper * k, rtol=1e-9)


def test_hurst_separates_random_walk_mean_reversion_and_trend():
    rng = np.random.default_rng(2024)
    med = {kind: np.nanmedian(ind.hurst(candles(rng, 20_000, kind).c.to_numpy(), 100))
           for kind in ("walk", "revert", "trend")}
    assert 0.4 < med["walk"] < 0.6
    assert med["revert"] < med["walk"] - 0.15
    assert med["trend"] > med["walk"] + 0.1


def test_hurst_of_flat_prices_is_undefined():
    c = np.full(150, 5.0)
    assert np.isnan(ind.hurst(c, 100)).all()
