"""The exchange's price and size rules (reference §5.3)."""

import pytest
from hypothesis import given, strategies as st

from perpbot.hl import rules


@pytest.mark.parametrize("px, szd, ok", [
    (1234.5, 0, True), (1234.56, 0, False), (0.001234, 0, True), (0.0012345, 0, False),
    (0.01234, 1, True), (0.012345, 1, False), (123456.0, 0, True), (12345.6, 0, False),
    (3000.1, 4, True), (3000.12, 4, False), (0.5, 6, False), (1.0, 6, True)])
def test_price_rule_examples(px, szd, ok):
    assert rules.price_ok(px, szd) is ok


@pytest.mark.parametrize("px, szd, direction, out", [
    (1234.56, 0, "nearest", 1234.6), (1234.56, 0, "down", 1234.5), (1234.51, 0, "up", 1234.6),
    (0.0012345, 0, "down", 0.001234), (3021.857, 4, "nearest", 3021.9),
    (99999.7, 0, "up", 100000.0), (123456.7, 0, "down", 123456.0), (1234.5, 0, "up", 1234.5)])
def test_round_price(px, szd, direction, out):
    assert rules.round_price(px, szd, direction) == out


@given(px=st.floats(1e-5, 1e7), szd=st.integers(0, 5))
def test_a_rounded_price_is_valid_and_on_the_right_side(px, szd):
    if px < 10 ** -(6 - szd):                  # below the smallest tick: no price to round to
        with pytest.raises(ValueError, match="below the smallest tick"):
            rules.round_price(px, szd, "down")
        return
    down, near, up = (rules.round_price(px, szd, d) for d in ("down", "nearest", "up"))
    assert all(rules.price_ok(x, szd) for x in (down, near, up))
    assert down <= px * (1 + 1e-12) and up >= px * (1 - 1e-12) and down <= near <= up


def test_size_rule():
    assert rules.size_ok(1.001, 3) and not rules.size_ok(1.0001, 3) and not rules.size_ok(0, 3)
