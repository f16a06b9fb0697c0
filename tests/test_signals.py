"""Signal rules with hand-built indicator rows, at and around every threshold."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from perpbot import signals
from perpbot.params import SignalParams

P = SignalParams()
NORMAL = signals.thresholds(P, "NORMAL")


def row(z=0.0, rsi=50.0, adx=20.0, close=100.0, upper=110.0, lower=90.0, hurst=0.4):
    return {"symbol": "ETH", "tf": "15m", "t": 0, "z": z, "rsi": rsi, "adx": adx, "close": close,
            "bb_upper": upper, "bb_lower": lower, "bb_mid": 100.0, "hurst": hurst}


SHORT_ROW = dict(z=2.5, rsi=75.0, close=111.0)
LONG_ROW = dict(z=-2.5, rsi=25.0, close=89.0)


def act(r, position=None, th=NORMAL, p=P):
    return signals.decide(r, position, th, p).action


# entries ---------------------------------------------------------------------------------------

def test_short_and_long_entries():
    d = signals.decide(row(**SHORT_ROW), None, NORMAL, P)
    assert d.action == "SHORT"
    assert d.reason == "z=2.500 > 2, rsi=75.0 > 70, close > bb_upper, adx=20.0 < 25"
    d = signals.decide(row(**LONG_ROW), None, NORMAL, P)
    assert d.action == "LONG"
    assert d.reason == "z=-2.500 < -2, rsi=25.0 < 30, close < bb_lower, adx=20.0 < 25"


@pytest.mark.parametrize("field, at, beyond, inside", [
    ("z", 2.0, 2.0001, 1.9999), ("rsi", 70.0, 70.01, 69.99), ("close", 110.0, 110.01, 109.99)])
def test_short_thresholds_are_strict(field, at, beyond, inside):
    assert act(row(**{**SHORT_ROW, field: at})) == "NONE"
    assert act(row(**{**SHORT_ROW, field: beyond})) == "SHORT"
    assert act(row(**{**SHORT_ROW, field: inside})) == "NONE"


@pytest.mark.parametrize("field, at, beyond, inside", [
    ("z", -2.0, -2.0001, -1.9999), ("rsi", 30.0, 29.99, 30.01), ("close", 90.0, 89.99, 90.01)])
def test_long_thresholds_are_strict(field, at, beyond, inside):
    assert act(row(**{**LONG_ROW, field: at})) == "NONE"
    assert act(row(**{**LONG_ROW, field: beyond})) == "LONG"
    assert act(row(**{**LONG_ROW, field: inside})) == "NONE"


def test_adx_gate():
    assert act(row(**LONG_ROW, adx=24.999)) == "LONG"
    d = signals.decide(row(**LONG_ROW, adx=25.0), None, NORMAL, P)
    assert d.action == "NONE" and d.reason.startswith("LONG blocked: adx=25.0 >= 25")
    assert act(row(**SHORT_ROW, adx=40.0)) == "NONE"


def test_hurst_gate_off_by_default_then_strict():
    assert act(row(**LONG_ROW, hurst=0.9)) == "LONG"
    gated = SignalParams(hurst_gate=True, hurst_max=0.5)
    assert act(row(**LONG_ROW, hurst=0.4999), p=gated) == "LONG"
    d = signals.decide(row(**LONG_ROW, hurst=0.5), None, NORMAL, gated)
    assert d.action == "NONE" and "hurst=0.500 >= 0.5" in d.reason
    assert act(row(**LONG_ROW, hurst=float("nan")), p=gated) == "NONE"
    assert act(row(**LONG_ROW, hurst=float("nan"))) == "LONG"        # not used when off


@pytest.mark.parametrize("field", ["z", "rsi", "adx", "close", "bb_mid", "bb_upper", "bb_lower"])
def test_no_entry_while_warming_up(field):
    r = row(**LONG_ROW)
    r[field] = None
    assert signals.decide(r, None, NORMAL, P) == signals.Decision("NONE", "warming up")
    r[field] = math.nan
    assert act(r) == "NONE"


# exits -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("z, action, exit_", [
    (-3.0001, "CLOSE", "z_stop"), (-3.0, "NONE", None), (-2.0, "NONE", None),
    (-0.3, "NONE", None), (-0.2999, "CLOSE", "take_profit"), (0.0, "CLOSE", "take_profit"),
    (1.5, "CLOSE", "take_profit"), (3.5, "CLOSE", "take_profit")])
def test_long_exits(z, action, exit_):
    d = signals.decide(row(z=z), "long", NORMAL, P)
    assert (d.action, d.exit) == (action, exit_)
    assert d.stop_loss == (exit_ == "z_stop")


@pytest.mark.parametrize("z, action, exit_", [
    (3.0001, "CLOSE", "z_stop"), (3.0, "NONE", None), (2.0, "NONE", None), (0.3, "NONE", None),
    (0.2999, "CLOSE", "take_profit"), (-1.0, "CLOSE", "take_profit")])
def test_short_exits(z, action, exit_):
    d = signals.decide(row(z=z), "short", NORMAL, P)
    assert (d.action, d.exit) == (action, exit_)


def test_holding_never_enters_again_and_ignores_entry_gates():
    assert act(row(**LONG_ROW), "long") == "NONE"
    assert act(row(z=-0.1, adx=60.0, rsi=None), "long") == "CLOSE"    # exits need z only
    assert act(row(z=None), "short") == "NONE"


# regimes ---------------------------------------------------------------------------------------

def test_thresholds_per_regime():
    t = {lv: signals.thresholds(P, lv) for lv in signals.LEVELS}
    assert (t["NORMAL"].long_entry_z, t["NORMAL"].short_entry_z, t["NORMAL"].exit_z) == (2.0, 2.0, 0.3)
    assert (t["HIGH_RISK"].long_entry_z, t["HIGH_RISK"].short_entry_z, t["HIGH_RISK"].exit_z) == (2.5, 2.5, 0.5)
    assert t["DOVISH"].long_entry_z == pytest.approx(1.8) and t["DOVISH"].short_entry_z == 2.0
    assert t["HAWKISH"].short_entry_z == pytest.approx(1.8) and t["HAWKISH"].long_entry_z == 2.0
    assert not t["CRISIS"].entries and all(t[lv].entries for lv in signals.LEVELS if lv != "CRISIS")
    assert all(t[lv].stop_z == 3.0 for lv in signals.LEVELS)
    with pytest.raises(ValueError):
        signals.thresholds(P, "PANIC")


def test_high_risk_tightens_entries_and_widens_take_profit():
    hr = signals.thresholds(P, "HIGH_RISK")
    # a consistent row: z = (close - 100) / 5 with the bands at 100 +/- 2 x 5
    def long_row(z):
        return row(z=z, rsi=25.0, close=100 + 5 * z, lower=90.0, upper=110.0)
    assert act(long_row(-2.4)) == "LONG"
    assert act(long_row(-2.4), th=hr) == "NONE"
    assert act(long_row(-2.51), th=hr) == "LONG"
    assert act(row(z=-0.45), "long", th=hr) == "CLOSE"
    assert act(row(z=-0.45), "long") == "NONE"


def test_dovish_lets_a_long_in_that_normal_would_not():
    # z = -1.9 and the close above the lower band (90) but below the DOVISH one (100 - 0.9 x 10)
    r = row(**{**LONG_ROW, "z": -1.9, "close": 90.5})
    assert act(r) == "NONE"
    d = signals.decide(r, None, signals.thresholds(P, "DOVISH"), P)
    assert d.action == "LONG" and "close < bb_lower x0.9" in d.reason
    assert act(row(**{**LONG_ROW, "z": -1.9, "close": 91.0}), th=signals.thresholds(P, "DOVISH")) == "NONE"
    hawkish_short = row(**{**SHORT_ROW, "z": 1.9, "close": 109.5})
    assert act(hawkish_short, th=signals.thresholds(P, "DOVISH")) == "NONE"
    assert act(hawkish_short, th=signals.thresholds(P, "HAWKISH")) == "SHORT"


def test_crisis_blocks_entries_but_not_exits():
    crisis = signals.thresholds(P, "CRISIS")
    d = signals.decide(row(**LONG_ROW), None, crisis, P)
    assert d.action == "NONE" and d.reason.startswith("LONG blocked: CRISIS allows exits only")
    assert act(row(z=0.0), "long", th=crisis) == "CLOSE"
    assert act(row(z=-3.5), "long", th=crisis) == "CLOSE"


def test_signal_record_carries_reason_regime_and_thresholds():
    th = signals.thresholds(P, "HIGH_RISK")
    d = signals.decide(row(z=3.2), "short", th, P)
    rec = signals.signal_record(row(z=3.2), d, th, "HIGH_RISK")
    assert rec["action"] == "CLOSE" and rec["exit"] == "z_stop" and rec["stop_loss"] is True
    assert rec["regime"] == "HIGH_RISK" and rec["price"] == 100.0
    assert rec["thresholds"] == {"long_entry_z": 2.5, "short_entry_z": 2.5, "exit_z": 0.5,
                                 "stop_z": 3.0, "entries": True, "long_band": 1.25,
                                 "short_band": 1.25}


@settings(max_examples=2000, deadline=None)
@given(z=st.floats(-8, 8), rsi=st.floats(0, 100), adx=st.floats(0, 100), hurst=st.floats(0, 1),
       band=st.floats(0.01, 5), above=st.booleans(), out=st.floats(0, 3), gate=st.booleans(),
       entry=st.floats(0.5, 4), hr_entry=st.floats(0.5, 4), dovish=st.floats(0.5, 1.5),
       hawkish=st.floats(0.5, 1.5), exit_=st.floats(0, 0.5), hr_exit=st.floats(0, 0.5))
def test_the_backtests_screens_never_miss_what_decide_would_do(z, rsi, adx, hurst, band, above,
                                                                out, gate, entry, hr_entry, dovish,
                                                                hawkish, exit_, hr_exit):
    """The fast path steps only candles the screens let through: under every regime, every
    entry and every close that decide() makes must pass them."""
    p = SignalParams(entry_z=entry, high_risk_entry_z=hr_entry, dovish_long_factor=dovish,
                     hawkish_short_factor=hawkish, exit_z=exit_, high_risk_exit_z=hr_exit,
                     stop_z=max(entry, hr_entry) + 1, hurst_gate=gate)
    close = 100.0 + (band * out if above else -band * out)     # inside or outside the bands
    row = {"z": z, "rsi": rsi, "adx": adx, "hurst": hurst, "close": close, "bb_mid": 100.0,
           "bb_upper": 100.0 + band, "bb_lower": 100.0 - band}
    for level in signals.LEVELS:
        th = signals.thresholds(p, level)
        if signals.decide(row, None, th, p).action in ("LONG", "SHORT"):
            assert signals.entry_screen(row, p), level
        for side in ("long", "short"):
            if signals.decide(row, side, th, p).action == "CLOSE":
                assert signals.exit_screen(z, side, p), (level, side)
