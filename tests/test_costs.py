"""The cost model, every expected number worked out by hand in the test."""

import pytest

from perpbot.execution import costs
from perpbot.params import CostParams

FIXED = CostParams(slippage_fixed_bps=2.0)      # 0.02%
H = 3_600_000


def test_maker_entry_long_pays_slippage_and_maker_fee():
    f = costs.fill("open", "long", 2.0, 2000.0, "signal", "0x" + "0" * 32, FIXED)
    assert f.price == pytest.approx(2000.0 * 1.0002)          # 2000.40
    assert f.fee == pytest.approx(2000.40 * 2.0 * 0.00015)    # 0.60012
    assert not f.taker


def test_short_entry_sells_below_mid():
    f = costs.fill("open", "short", 2.0, 2000.0, "signal", "0x" + "0" * 32, FIXED)
    assert f.price == pytest.approx(1999.60)
    assert f.fee == pytest.approx(1999.60 * 2.0 * 0.00015)    # 0.59988


@pytest.mark.parametrize("reason", ["capital_stop", "z_stop", "exchange_stop"])
def test_stop_exits_pay_taker(reason):
    # closing a long sells: 2000 x (1 - 0.0002) = 1999.60; taker 0.045% of 3999.20 = 1.79964
    f = costs.fill("close", "long", 2.0, 2000.0, reason, "0x" + "0" * 32, FIXED)
    assert f.taker and f.price == pytest.approx(1999.60) and f.fee == pytest.approx(1.79964)


def test_take_profit_exit_is_maker_and_closing_a_short_buys():
    f = costs.fill("close", "short", 1.0, 100.0, "take_profit", "0x" + "0" * 32, FIXED)
    assert not f.taker and f.price == pytest.approx(100.02) and f.fee == pytest.approx(0.015003)


def test_random_slippage_is_in_range_and_the_same_for_the_same_order():
    p = CostParams()
    draws = [costs.slippage_frac(f"0x{i:032x}", p) for i in range(2000)]
    assert all(0.0001 <= d <= 0.0005 for d in draws)
    assert abs(sum(draws) / len(draws) - 0.0003) < 0.00001
    assert costs.slippage_frac("0x" + "1" * 32, p) == costs.slippage_frac("0x" + "1" * 32, p)
    assert costs.slippage_frac("0x" + "1" * 32, CostParams(seed=7)) != \
        costs.slippage_frac("0x" + "1" * 32, p)


def test_funding_over_several_hours_both_sides():
    # held from 10:20 to 13:05: the boundaries 11:00, 12:00, 13:00 are crossed
    start, end = 10 * H + 20 * 60_000, 13 * H + 5 * 60_000
    assert costs.hours_crossed(start, end) == [11 * H, 12 * H, 13 * H]
    rates = {11 * H: 0.0001, 12 * H: -0.00005, 13 * H: 0.0002}
    marks = {11 * H: 2000.0, 12 * H: 2010.0, 13 * H: 1990.0}
    # a long of 2 ETH pays: 2 x 2000 x 0.0001 = 0.4; receives 2 x 2010 x 0.00005 = 0.201;
    # pays 2 x 1990 x 0.0002 = 0.796 -> -0.4 + 0.201 - 0.796 = -0.995
    got, missing = costs.funding_over("long", 2.0, start, end, rates, marks.get)
    assert got == pytest.approx(-0.995) and missing == []
    got, _ = costs.funding_over("short", 2.0, start, end, rates, marks.get)
    assert got == pytest.approx(0.995)


def test_a_missing_funding_hour_counts_zero_and_is_reported():
    rates = {11 * H: 0.0001}
    got, missing = costs.funding_over("long", 1.0, 10 * H, 12 * H, rates, lambda h: 100.0)
    assert got == pytest.approx(-0.01) and missing == [12 * H]


def test_hours_crossed_bounds():
    assert costs.hours_crossed(H, 2 * H) == [2 * H]          # start on the hour: not crossed
    assert costs.hours_crossed(H - 1, H) == [H]
    assert costs.hours_crossed(H + 1, 2 * H - 1) == []


def test_hourly_rates_key_by_hour():
    rows = [("ETH", 11 * H + 37, 0.0001, 0.0), ("ETH", 12 * H + 2, -0.0002, None)]
    assert costs.hourly_rates(rows) == {11 * H: 0.0001, 12 * H: -0.0002}


def test_realized_pnl_of_a_round_trip():
    # long 2 from 2000.40 to 2099.58 (sold 2100 - 0.02%): 2 x 99.18 = 198.36, minus fees
    # 0.60012 + 0.629874 (maker on 4199.16), minus funding paid 0.995
    exit_ = costs.fill("close", "long", 2.0, 2100.0, "take_profit", "0x" + "0" * 32, FIXED)
    assert exit_.price == pytest.approx(2099.58)
    pnl = costs.realized_pnl("long", 2.0, 2000.40, exit_.price, 0.60012 + exit_.fee, -0.995)
    assert pnl == pytest.approx(198.36 - 0.60012 - 0.629874 - 0.995)
    assert costs.realized_pnl("short", 1.0, 100.0, 90.0, 0.1, 0.05) == pytest.approx(9.95)
