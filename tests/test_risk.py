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


# the gate, rule by rule ------------------------------------------------------------------------

from dataclasses import replace  # noqa: E402

from perpbot.params import RiskParams  # noqa: E402
from perpbot.risk import Position, RiskState, cloid, gate, losing_weeks  # noqa: E402

P = RiskParams()
RC = RegimeConfig()
H = 3_600_000
DAY = 24 * H
T0 = 1_767_225_600_000          # 2026-01-01T00:00Z


def sig(action="LONG", price=2000.0, t=T0, symbol="ETH", regime="NORMAL", exit=None, stop=False):
    s = {"type": "signal", "v": 1, "symbol": symbol, "tf": "15m", "t": t, "action": action,
         "reason": "test", "price": price, "regime": regime}
    if exit:
        s.update(exit=exit, stop_loss=stop)
    return s


def run_gate(signal, state, now=None, p=P):
    return gate(signal, now if now is not None else signal["t"] + 900_000, state, p, RC, 4)


def test_entry_when_every_check_passes():
    out, state = run_gate(sig(), RiskState())
    (rec,) = out
    assert rec["type"] == "intent" and rec["action"] == "open" and rec["side"] == "long"
    assert rec["size"] == 7.5 and rec["cloid"] == cloid("ETH", T0, "open")
    assert state.positions["ETH"].size == 7.5


def test_cloid_is_deterministic_and_well_formed():
    a, b = cloid("ETH", T0, "open"), cloid("ETH", T0, "open")
    assert a == b and len(a) == 34 and a.startswith("0x") and int(a, 16) >= 0
    assert cloid("ETH", T0, "close") != a and cloid("BTC", T0, "open") != a


@pytest.mark.parametrize("state, level, check", [
    (RiskState(paused=True), "NORMAL", "paused"),
    (RiskState(halted=True), "NORMAL", "losing_weeks_halt"),
    (RiskState(), "CRISIS", "regime_crisis"),
    (RiskState(positions={"BTC": Position("BTC", "long", 0.1, 60_000.0, T0)}), "NORMAL",
     "max_positions"),
])
def test_entry_refusals_name_the_check(state, level, check):
    out, after = run_gate(sig(regime=level), state)
    assert out == [{"type": "rejected", "v": 1, "symbol": "ETH", "t": T0, "action": "LONG",
                    "reason": check, "regime": level}]
    assert "ETH" not in after.positions


def test_max_positions_counts_this_run_too():
    p = replace(P, max_positions=2)
    out1, st = run_gate(sig(symbol="ETH"), RiskState(), p=p)
    out2, st = run_gate(sig(symbol="BTC", price=60_000.0), st, p=p)
    out3, st = run_gate(sig(symbol="SOL", price=150.0), st, p=p)
    assert [o[0]["type"] for o in (out1, out2, out3)] == ["intent", "intent", "rejected"]
    assert out3[0]["reason"] == "max_positions"


def test_daily_loss_cap_boundary_and_reset_at_midnight_utc():
    now = T0 + 23 * H + 59 * 60_000                   # 23:59 UTC
    cap = 0.08 * 10_000
    day = now - now % DAY
    at_cap = RiskState(realized_today=-cap, day=day)
    just_under = RiskState(realized_today=-cap + 0.01, day=day)
    assert run_gate(sig(t=now - 900_000), at_cap, now)[0][0]["reason"] == "daily_loss_cap"
    assert run_gate(sig(t=now - 900_000), just_under, now)[0][0]["type"] == "intent"
    # one minute later it is a new UTC day: the realized loss no longer counts
    after_midnight = now + 60_000
    out, st = run_gate(sig(t=after_midnight - 900_000), at_cap, after_midnight)
    assert out[0]["type"] == "intent" and st.realized_today == 0.0


def test_cooldown_boundary():
    until = T0 + H
    st = RiskState(cooldown_until=until)
    assert run_gate(sig(), st, until - 1)[0][0]["reason"] == "cooldown"
    assert run_gate(sig(), st, until)[0][0]["type"] == "intent"


def long_pos(price=2000.0, size=7.5, t=T0):
    return RiskState(positions={"ETH": Position("ETH", "long", size, price, t)})


def test_capital_stop_at_three_percent_of_capital():
    # long 7.5 ETH from 2000: a 300 USD loss (3% of 10,000) is 40 USD a coin, at 1960
    out, st = run_gate(sig("NONE", price=1960.0, t=T0 + H), long_pos())
    assert out[0]["action"] == "close" and out[0]["reason"] == "capital_stop"
    assert out[0]["stop_loss"] is True and out[0]["size"] == 7.5
    assert st.cooldown_until == T0 + H + 900_000 + 30 * 60_000
    out, _ = run_gate(sig("NONE", price=1960.01, t=T0 + H), long_pos())
    assert out == []
    short = RiskState(positions={"ETH": Position("ETH", "short", 7.5, 2000.0, T0)})
    assert run_gate(sig("NONE", price=2040.0, t=T0 + H), short)[0][0]["reason"] == "capital_stop"


def test_timeout_after_24_hours():
    entry = T0
    out, st = run_gate(sig("NONE", t=entry + DAY - 900_000), long_pos(t=entry), entry + DAY)
    assert out[0]["reason"] == "timeout" and out[0]["stop_loss"] is False
    assert st.cooldown_until is None                    # a timeout is not a stop loss
    assert run_gate(sig("NONE"), long_pos(t=entry), entry + DAY - 1)[0] == []


def test_exits_come_before_the_signal_and_before_entries():
    # a capital stop and a take-profit signal at once: the stop wins (taker, cooldown)
    out, _ = run_gate(sig("CLOSE", price=1950.0, exit="take_profit"), long_pos())
    assert [o["reason"] for o in out] == ["capital_stop"]
    # exits run while paused, halted and in CRISIS
    blocked = replace(long_pos(), paused=True, halted=True)
    out, _ = run_gate(sig("CLOSE", exit="take_profit", regime="CRISIS"), blocked)
    assert out[0]["action"] == "close" and out[0]["reason"] == "take_profit"


def test_z_stop_starts_the_cooldown():
    out, st = run_gate(sig("CLOSE", price=1990.0, exit="z_stop", stop=True), long_pos())
    assert out[0]["reason"] == "z_stop" and out[0]["stop_loss"] is True
    assert st.cooldown_until == T0 + 900_000 + 30 * 60_000
    nxt, _ = run_gate(sig(t=T0 + 900_000), st)
    assert nxt[0]["reason"] == "cooldown"


def test_high_risk_halves_the_size():
    out, _ = run_gate(sig(regime="HIGH_RISK"), RiskState())
    assert out[0]["size"] == 3.75


def test_losing_weeks_count():
    now = T0 + 30 * DAY
    week = 7 * DAY
    closes = [(now - 1, -10.0), (now - week - 1, -5.0), (now - 2 * week - 1, -1.0),
              (now - 3 * week - 1, +50.0)]
    assert losing_weeks(closes, now, 3) == 3
    closes[0] = (now - 1, +11.0)
    assert losing_weeks(closes, now, 3) == 0
    assert losing_weeks([], now, 3) == 0
