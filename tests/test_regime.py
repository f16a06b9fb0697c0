"""Regime scores and classification at each threshold, the fail-safe, and the as-of lookup."""

import pytest

from perpbot import regime
from perpbot.params import MarketConfig, RegimeConfig
from perpbot.prediction import Reading

MIN = 60_000
CFG = RegimeConfig(markets=(MarketConfig("polymarket", "war", "war_risk"),
                            MarketConfig("kalshi", "cut", "rate_change")))


@pytest.mark.parametrize("war, rate, level", [
    (0.7, 0.0, "CRISIS"), (0.6999, 0.0, "HIGH_RISK"), (0.95, 0.9, "CRISIS"),
    (0.4, 0.0, "HIGH_RISK"), (0.3999, 0.0, "NORMAL"), (0.4, 0.9, "HIGH_RISK"),
    (0.1, 0.3, "NORMAL"), (0.1, 0.3001, "DOVISH"), (0.1, -0.3, "NORMAL"), (0.1, -0.3001, "HAWKISH"),
    (None, 0.5, "DOVISH"), (0.5, None, "HIGH_RISK"), (None, None, "NORMAL"),
])
def test_classification_at_and_around_each_threshold(war, rate, level):
    assert regime.classify(war, rate, CFG)[0] == level


def reading(mid, cat, p, w=1.0, status="ok"):
    return Reading("polymarket", mid, cat, w, 0, p, status if p is not None else "skipped")


def test_scores_are_weighted_and_rate_change_signed():
    rs = [reading("a", "war_risk", 0.2, 1.0), reading("b", "war_risk", 0.8, 3.0),
          reading("c", "rate_change", 0.9), reading("d", "rate_change", 0.7),
          reading("e", "war_risk", None, 100.0)]
    war, rate = regime.scores(rs, {"d": "hike"})
    assert war == pytest.approx((0.2 + 0.8 * 3) / 4)
    # d is a hike market at 0.7: a cut is 0.3 likely there; mean 0.6 -> (0.6 - 0.5) x 2
    assert rate == pytest.approx(0.2)


def poll(now, war=None, cut=None):
    return [reading("war", "war_risk", war), reading("cut", "rate_change", cut)]


def test_fresh_poll_classifies():
    r = regime.decide(poll(10 * MIN, war=0.45, cut=0.5), None, 10 * MIN, CFG)
    assert (r.level, r.fresh_t, r.war_risk) == ("HIGH_RISK", 10 * MIN, 0.45)
    assert r.sources["war"]["probability"] == 0.45


def test_fail_safe_holds_the_last_fresh_regime_then_goes_high_risk():
    fresh = regime.decide(poll(0, war=0.1, cut=0.9), None, 0, CFG)
    assert fresh.level == "DOVISH"
    held = regime.decide(poll(60 * MIN, war=0.1), fresh, 60 * MIN, CFG)   # rate market down
    assert held.level == "DOVISH" and held.fresh_t == 0
    assert "no rate_change market could be read: holding DOVISH" in held.reason
    stale = regime.decide(poll(61 * MIN), held, 61 * MIN, CFG)
    assert stale.level == "HIGH_RISK" and "fail-safe HIGH_RISK" in stale.reason
    assert regime.decide(poll(0), None, 0, CFG).level == "HIGH_RISK"       # never any data
    relaxed = RegimeConfig(markets=CFG.markets, fail_safe_level="NORMAL")
    assert regime.decide(poll(0), None, 0, relaxed).level == "NORMAL"      # only if configured


def test_no_markets_configured_is_normal():
    r = regime.decide([], None, 5, RegimeConfig())
    assert r.level == "NORMAL" and r.reason == "no prediction markets configured"


def snap(t, level, fresh_t=None):
    return regime.Regime(t, level, None, None, t if fresh_t is None else fresh_t, level)


def test_as_of_lookup_never_sees_a_later_snapshot():
    book = regime.RegimeBook([snap(20 * MIN, "CRISIS"), snap(10 * MIN, "DOVISH")], CFG)
    assert book.at(10 * MIN - 1)[0] == "NORMAL"             # before any snapshot
    assert book.at(10 * MIN)[0] == "DOVISH"                 # at the exact time: in force
    assert book.at(20 * MIN - 1)[0] == "DOVISH"
    assert book.at(20 * MIN)[0] == "CRISIS"
    assert book.at(20 * MIN + 60 * MIN)[0] == "CRISIS"      # exactly at the staleness limit
    level, why = book.at(20 * MIN + 60 * MIN + 1)           # the poller stopped: fail-safe
    assert level == "HIGH_RISK" and "stale" in why


def test_as_of_with_no_snapshots_is_normal_and_says_so():
    book = regime.RegimeBook([], CFG)
    assert book.empty
    assert book.at(123) == ("NORMAL", "no regime snapshots: NORMAL")


def test_a_held_snapshot_goes_stale_from_its_fresh_time():
    book = regime.RegimeBook([snap(50 * MIN, "DOVISH", fresh_t=0)], CFG)
    assert book.at(55 * MIN)[0] == "DOVISH"
    assert book.at(61 * MIN)[0] == "HIGH_RISK"
