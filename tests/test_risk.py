import pytest

from perpbot import risk
from perpbot.params import RegimeConfig
from perpbot.regime import size_multiplier


def test_entry_size_rounds_down_to_the_lot():
    # 10,000 x 0.5 x 3 = 15,000 USD at 3,001.7 = 4.99716... ETH, lot 0.0001 -> 4.9971
    assert risk.entry_size(10_000, 3001.7, 4) == 4.9971
    # BTC lot 0.00001: 15,000 / 67,123 = 0.223470... -> 0.22347
    assert risk.entry_size(10_000, 67_123.0, 5) == 0.22347
    # whole lots: 15,000 / 0.1234 = 121,555.9... -> 121,555
    assert risk.entry_size(10_000, 0.1234, 0) == 121_555


def test_size_never_exceeds_the_budget():
    for price in (0.1, 1.7, 3.3, 29.99, 1234.56, 99_999.9):
        size = risk.entry_size(1_000, price, 3)
        assert size * price <= 1_000 * 0.5 * 3 + 1e-9


def test_regime_multiplier_scales_the_size():
    cfg = RegimeConfig()
    full = risk.entry_size(10_000, 2000.0, 4, multiplier=size_multiplier("NORMAL", cfg))
    half = risk.entry_size(10_000, 2000.0, 4, multiplier=size_multiplier("HIGH_RISK", cfg))
    assert (full, half) == (7.5, 3.75)
    assert risk.entry_size(10_000, 2000.0, 4, multiplier=size_multiplier("CRISIS", cfg)) == 0.0
    assert size_multiplier("DOVISH", cfg) == size_multiplier("HAWKISH", cfg) == 1.0


@pytest.mark.parametrize("capital, price, want", [(6.0, 1.0, 0.0), (7.0, 1.0, 10.0)])
def test_orders_under_ten_dollars_are_no_orders(capital, price, want):
    # 6 x 1.5 = 9 USD: below the exchange minimum; 7 x 1.5 = 10.5 -> 10 lots of 1 = 10 USD
    assert risk.entry_size(capital, price, 0) == want
