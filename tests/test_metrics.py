"""Metrics against values worked out independently in the test."""

import math

import numpy as np
import pytest

from perpbot import metrics

H = 3_600_000
M15 = 900_000


def trip(entry_t, exit_t, pnl, fees=1.0, funding=-0.5, slippage=0.25):
    return {"entry_t": entry_t, "exit_t": exit_t, "pnl": pnl, "fees": fees, "funding": funding,
            "slippage": slippage}


def test_trade_statistics_by_hand():
    trips = [trip(0, 2 * H, 100.0), trip(3 * H, 4 * H, -40.0), trip(5 * H, 8 * H, 60.0),
             trip(9 * H, 10 * H, -20.0)]
    t = np.arange(0, 40 * M15 + 1, M15)
    eq = np.full(len(t), 10_000.0)
    eq[-1] = 10_100.0
    s = metrics.summary(trips, t, eq)
    assert s["trades"] == 4 and s["win_rate"] == 0.5
    assert s["expected_value"] == pytest.approx(25.0)          # (100 - 40 + 60 - 20) / 4
    assert s["profit_factor"] == pytest.approx(160 / 60)       # (100 + 60) / (40 + 20)
    assert s["avg_holding_hours"] == pytest.approx((2 + 1 + 3 + 1) / 4)
    assert s["exposure"] == pytest.approx(7 * H / (10 * H))    # 7 hours held of 10
    assert (s["fees"], s["funding"], s["slippage"]) == (4.0, -2.0, 1.0)
    assert s["return"] == pytest.approx(0.01)


def test_sharpe_and_sortino_by_hand():
    rets = np.array([0.01, -0.005, 0.002, 0.004, -0.001])
    mean = sum(rets) / 5                                       # 0.002
    var = sum((r - mean) ** 2 for r in rets) / 4               # sample variance
    assert metrics.sharpe(rets) == pytest.approx(mean / math.sqrt(var) * math.sqrt(365))
    down = math.sqrt((0.005 ** 2 + 0.001 ** 2) / 5)
    assert metrics.sortino(rets) == pytest.approx(mean / down * math.sqrt(365))
    assert metrics.sharpe(np.array([0.01, 0.01])) is None
    assert metrics.sortino(np.array([0.01, 0.02])) is None


def test_daily_returns_are_calendar_days_of_the_equity_curve():
    D = 24 * H
    # 15m samples over three UTC days from 06:00 on day 0; the equity moves within days
    t = np.arange(6 * H, 3 * D, M15)
    eq = 1000.0 + np.arange(len(t), dtype=float)
    r = metrics.daily_returns(t, eq)
    end0, end1, end2 = (eq[np.searchsorted(t, x, side="right") - 1] for x in (D, 2 * D, 3 * D))
    assert r == pytest.approx([end0 / 1000.0 - 1, end1 / end0 - 1, end2 / end1 - 1], rel=1e-15)
    # a day with no sample (no candle) repeats the equity before it: a zero return
    gap = (t <= D) | (t > 2 * D)
    r = metrics.daily_returns(t[gap], eq[gap])
    assert r[1] == 0.0 and len(r) == 3


def test_sharpe_and_sortino_agree_with_empyrical_on_real_equity():
    """empyrical (empyrical-reloaded, a test-only oracle) on the same daily returns of a real
    backtest's equity curve."""
    empyrical = pytest.importorskip("empyrical", reason="empyrical-reloaded is a test extra")
    from test_backtest_engine import NO_REGIME, market
    from perpbot.backtest import engine
    cd = market("EURUSD-1h")
    r = engine.run("EURUSD", "1h", cd, [], NO_REGIME, engine.Setup(), 0)
    s = metrics.summary(r.trips, r.equity_t, r.equity)
    daily = metrics.daily_returns(r.equity_t, r.equity)
    assert len(daily) > 200 and s["trades"] > 20
    assert s["sharpe"] == pytest.approx(
        empyrical.sharpe_ratio(daily, annualization=365), rel=1e-12)
    assert s["sortino"] == pytest.approx(
        empyrical.sortino_ratio(daily, annualization=365), rel=1e-12)
    # and from pandas' own resampling of the curve to days (the last value of each UTC day)
    import pandas as pd
    curve = pd.Series(np.r_[r.equity[0], r.equity],
                      index=pd.to_datetime(np.r_[r.equity_t[0] - 1, r.equity_t], unit="ms"))
    closes = curve.resample("1D", closed="right", label="right").last().ffill()
    assert closes.pct_change().dropna().to_numpy() == pytest.approx(daily[1:], rel=1e-12)


def test_annualised_figures_need_ninety_days():
    day = 24 * H
    t = np.arange(0, 20 * day + 1, H)
    eq = np.linspace(10_000.0, 10_300.0, len(t))              # +3% in 20 days
    s = metrics.summary([], t, eq)
    assert s["cagr"] is None and s["calmar"] is None and s["annualised_from_days"] == 90
    assert s["days"] == pytest.approx(20.0) and s["return"] == pytest.approx(0.03)
    assert "20 days" in metrics.annualised_note(s)
    t = np.arange(0, 91 * day + 1, H)
    s = metrics.summary([], t, np.linspace(10_000.0, 10_300.0, len(t)))
    assert s["cagr"] == pytest.approx(1.03 ** (365.25 / 91) - 1) and metrics.annualised_note(s) is None


def test_drawdown_percent_dollars_and_duration():
    t = np.arange(8) * H
    eq = np.array([100.0, 120.0, 90.0, 110.0, 125.0, 100.0, 150.0, 140.0])
    # running peaks 100 120 120 120 125 125 150 150; below them by 0 0 30 10 0 25 0 10
    d = metrics.drawdown(t, eq)
    assert d["max_drawdown"] == pytest.approx(30 / 120)
    assert d["max_drawdown_usd"] == pytest.approx(30.0)
    # under water from the peak at 1 h until 125 at 4 h (3 h), from 4 h to 6 h, from 6 h on
    assert d["max_drawdown_hours"] == pytest.approx(3.0)


def test_drawdown_dollars_and_percent_can_come_from_different_falls():
    t = np.arange(6) * H
    eq = np.array([100.0, 80.0, 100.0, 1000.0, 900.0, 1000.0])   # -20% (20 USD), -10% (100 USD)
    d = metrics.drawdown(t, eq)
    assert d["max_drawdown"] == pytest.approx(0.2)
    assert d["max_drawdown_usd"] == pytest.approx(100.0)
    assert d["max_drawdown_hours"] == pytest.approx(2.0)           # peak at 0h, back at 2h
    never = metrics.drawdown(np.arange(4) * H, np.array([100.0, 90.0, 95.0, 99.0]))
    assert never["max_drawdown_hours"] == pytest.approx(3.0)       # not recovered by the end


def test_cagr_and_calmar():
    t = np.array([0, int(metrics.YEAR_MS / 2)])
    eq = np.array([10_000.0, 11_025.0])                            # +10.25% in half a year
    s = metrics.summary([], t, eq)
    assert s["cagr"] == pytest.approx(1.1025 ** 2 - 1)             # 21.55% a year
    assert s["calmar"] is None                                     # no drawdown
    t3 = np.array([0, int(metrics.YEAR_MS / 2), int(metrics.YEAR_MS)])
    s = metrics.summary([], t3, np.array([100.0, 80.0, 110.0]))
    assert s["cagr"] == pytest.approx(0.10)
    assert s["calmar"] == pytest.approx(0.10 / 0.20)


def test_no_trades_no_losses():
    s = metrics.summary([trip(0, H, 5.0)], np.array([0, H]), np.array([100.0, 105.0]))
    assert s["profit_factor"] is None and s["win_rate"] == 1.0
    s = metrics.summary([], np.array([0]), np.array([100.0]))
    assert s["trades"] == 0 and s["win_rate"] is None and s["sharpe"] is None


def test_drawdown_duration_against_a_plain_walk():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 300))
        t = np.cumsum(rng.integers(1, 5, n)) * H
        eq = 100 + np.cumsum(rng.normal(0, 1, n))
        peak, longest, start = -np.inf, 0, None
        for i in range(n):                          # the definition, one sample at a time
            peak = max(peak, eq[i])
            if eq[i] < peak:
                if start is None:
                    start = max(i - 1, 0)
            elif start is not None:
                longest, start = max(longest, t[i] - t[start]), None
        if start is not None:
            longest = max(longest, t[-1] - t[start])
        assert metrics.drawdown(t, eq)["max_drawdown_hours"] == longest / H
