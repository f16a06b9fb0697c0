"""The adapters on responses shaped like the venues' real ones, well-formed and malformed."""

import copy
import json
from pathlib import Path

import pytest

from fakes import FakeServer
from perpbot.errors import TemporaryFailure
from perpbot.params import MarketConfig, RegimeConfig
from perpbot.prediction import SourceError, kalshi, polymarket
from perpbot.prediction.http import JsonGetter
from perpbot.prediction.poll import make_adapters, poll
from perpbot.regime import scores

FIX = Path(__file__).parent / "fixtures" / "prediction"
POLY = json.loads((FIX / "polymarket_markets.json").read_text())
KALSHI = json.loads((FIX / "kalshi_market.json").read_text())


def changed(base: dict, **changes) -> dict:
    """A copy of a fixture market with fields replaced (or removed where the value is None)."""
    m = copy.deepcopy(base)
    for k, v in changes.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return m


def poly_with(**changes):
    return changed(POLY[0], **changes)


def kalshi_with(**changes):
    return changed(KALSHI["market"], **changes)


# Polymarket --------------------------------------------------------------------------------------

def test_polymarket_yes_price_paired_with_outcomes():
    assert polymarket.yes_probability(POLY[0]) == (0.235, "")
    flipped = poly_with(outcomes='["No", "Yes"]', outcomePrices='["0.765", "0.235"]')
    assert polymarket.yes_probability(flipped) == (0.235, "")


@pytest.mark.parametrize("changes, reason", [
    ({"closed": True}, "market closed"), ({"active": False}, "market inactive")])
def test_polymarket_closed_or_inactive_is_skipped(changes, reason):
    assert polymarket.yes_probability(poly_with(**changes)) == (None, reason)


@pytest.mark.parametrize("changes, message", [
    ({"outcomePrices": None}, "outcomePrices missing"),
    ({"outcomePrices": '["0.2"'}, "outcomePrices is not a JSON-encoded list"),
    ({"outcomePrices": '["1.35", "-0.35"]'}, "Yes price: 1.35 is outside 0..1"),
    ({"outcomePrices": '["abc", "0.5"]'}, "Yes price: not a number: 'abc'"),
    ({"outcomePrices": '["0.5"]'}, "2 outcomes but 1 outcomePrices"),
    ({"outcomes": '["Trump", "Harris"]'}, "no Yes outcome"),
])
def test_polymarket_malformed_is_an_error(changes, message):
    with pytest.raises(SourceError, match=message.replace("[", r"\[")):
        polymarket.yes_probability(poly_with(**changes))


def test_polymarket_looks_up_by_slug_or_condition_id():
    seen = []

    def respond(path, query):
        seen.append(query)
        return 200, POLY, None

    with FakeServer(respond, method="GET") as srv:
        adapter = polymarket.Polymarket(JsonGetter(srv.url))
        assert adapter.probability("us-military-strike-new-country-by-june-30") == (0.235, "")
        assert adapter.probability(POLY[0]["conditionId"]) == (0.235, "")
    assert seen == [{"slug": ["us-military-strike-new-country-by-june-30"]},
                    {"condition_ids": [POLY[0]["conditionId"]]}]


# Kalshi ------------------------------------------------------------------------------------------

def test_kalshi_mid_of_dollar_quotes():
    assert kalshi.yes_probability(KALSHI["market"]) == (pytest.approx(0.62), "")


def test_kalshi_dollars_win_over_cents_and_cents_are_the_fallback():
    m = kalshi_with(yes_bid=1, yes_ask=2)                  # stale cents must not be used
    assert kalshi.yes_probability(m)[0] == pytest.approx(0.62)
    m = kalshi_with(yes_bid_dollars=None, yes_ask_dollars=None)
    assert kalshi.yes_probability(m)[0] == pytest.approx(0.62)


@pytest.mark.parametrize("status", ["closed", "settled", "finalized", "initialized"])
def test_kalshi_not_open_is_skipped(status):
    assert kalshi.yes_probability(kalshi_with(status=status)) == (None, f"market {status}")


@pytest.mark.parametrize("changes, message", [
    ({"yes_bid_dollars": None, "yes_ask_dollars": None, "yes_bid": None, "yes_ask": None},
     "no yes bid or ask"),
    ({"yes_ask_dollars": "1.2000"}, "yes_ask_dollars: 1.2 is outside 0..1"),
    ({"yes_bid_dollars": "0.7000"}, "yes bid 0.7 above ask 0.63"),
    ({"yes_bid_dollars": None, "yes_ask_dollars": None, "yes_bid": "61"},
     "yes_bid: not a number of cents"),
    ({"yes_bid_dollars": None, "yes_ask_dollars": None, "yes_ask": 140},
     r"yes_ask \(cents\): 1.4 is outside 0..1"),
])
def test_kalshi_malformed_is_an_error(changes, message):
    with pytest.raises(SourceError, match=message):
        kalshi.yes_probability(kalshi_with(**changes))


def test_kalshi_without_quotes_is_skipped():
    m = kalshi_with(yes_bid_dollars="0.0000", yes_ask_dollars="0.0000")
    assert kalshi.yes_probability(m) == (None, "no Yes quote")


# polling: each market read, skipped with a reason, or unreachable; never in the score -----------

def test_poll_skips_and_never_scores_bad_markets():
    bodies = {
        "/gamma/markets?slug=good": POLY,
        "/gamma/markets?slug=closed": [poly_with(closed=True)],
        "/gamma/markets?slug=broken": [poly_with(outcomePrices='["7", "0"]')],
        "/kalshi/trade-api/v2/markets/CUT": KALSHI,
        "/kalshi/trade-api/v2/markets/DOWN": None,
    }

    def respond(path, query):
        key = path + ("?" + "&".join(f"{k}={v[0]}" for k, v in query.items()) if query else "")
        if key.endswith("DOWN"):
            return 503, b"unavailable", None
        return 200, bodies[key], None

    with FakeServer(respond, method="GET") as srv:
        cfg = RegimeConfig(markets=(
            MarketConfig("polymarket", "good", "war_risk", 1.0),
            MarketConfig("polymarket", "closed", "war_risk", 5.0),
            MarketConfig("polymarket", "broken", "war_risk", 5.0),
            MarketConfig("kalshi", "CUT", "rate_change"),
            MarketConfig("kalshi", "DOWN", "rate_change", 9.0)),
            polymarket_url=srv.url + "/gamma", kalshi_url=srv.url + "/kalshi", retries=1)
        adapters = make_adapters(cfg)
        for a in adapters.values():
            a.getter.sleep = lambda s: None
        warnings = []

        class Log:
            def warning(self, msg, **kw):
                warnings.append(msg)

        got = poll(cfg, 1_000, adapters, Log())
    status = {r.market_id: (r.status, r.reason) for r in got}
    assert status["good"] == ("ok", "")
    assert status["closed"] == ("skipped", "market closed")
    assert status["broken"][0] == "skipped" and "7.0 is outside 0..1" in status["broken"][1]
    assert status["DOWN"][0] == "unreachable" and "HTTP 503" in status["DOWN"][1]
    assert len(warnings) == 3
    war, rate = scores(got, {})
    assert war == pytest.approx(0.235)                 # the heavy bad markets count for nothing
    assert rate == pytest.approx((0.62 - 0.5) * 2)


def test_unreachable_venue_is_temporary():
    getter = JsonGetter("http://127.0.0.1:9", retries=1, sleep=lambda s: None)
    with pytest.raises(TemporaryFailure, match="GET http://127.0.0.1:9/markets: cannot connect"):
        getter.get("/markets")
