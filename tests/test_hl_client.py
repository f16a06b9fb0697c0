import json

import pytest

from conftest import shared_file
from fakes import FakeServer
from perpbot.errors import BadInput, ExitCode, TemporaryFailure
from perpbot.hl import parse, weights
from perpbot.hl.client import ExchangeError, InfoClient


def recorded(name):
    return json.loads(shared_file(f"hyperliquid/{name}.json").read_text())


def replay(*names):
    """A fake exchange answering each request type with its recorded real response."""
    table = {}
    for n in names:
        rec = recorded(n)
        table[rec["request"]["type"]] = rec["response"]
    return FakeServer(lambda path, body: (200, table[body["type"]], None))


def client(url, **kw):
    sleeps = []
    kw.setdefault("sleep", sleeps.append)
    c = InfoClient(url, retries=kw.pop("retries", 3), backoff_s=0.01, backoff_max_s=0.05, **kw)
    c.sleeps = sleeps
    return c


def test_meta_and_mids_from_real_responses():
    with replay("meta", "allMids") as srv:
        c = client(srv.url)
        meta = c.meta()
        mids = parse.mids(c.all_mids())
    szd = parse.size_decimals(meta)
    assert (szd["BTC"], szd["ETH"]) == (5, 4)
    assert len(meta["universe"]) == 28
    assert parse.asset_index(meta)["ETH"] == 1
    assert mids["BTC"] == 30135.0 and mids["ETH"] == 1903.95
    assert srv.requests[0] == ("/info", {"type": "meta"})


def test_candle_snapshot_parses_real_response():
    rec = recorded("candleSnapshot")
    with replay("candleSnapshot") as srv:
        req = rec["request"]["req"]
        got = client(srv.url).candle_snapshot(req["coin"], req["interval"], req["startTime"],
                                              req["endTime"])
        assert srv.requests[0][1] == rec["request"]     # the nested "req" shape
    rows = [parse.candle_row(c, "kPEPE", "1h") for c in got]
    assert len(rows) == 24
    first = rec["response"][0]
    assert rows[0] == ("kPEPE", "1h", 1684699200000, 1684702799999, float(first["o"]),
                       float(first["h"]), float(first["l"]), float(first["c"]), float(first["v"]),
                       first["n"])
    assert all(r[3] == r[2] + 3_600_000 - 1 for r in rows)


def test_funding_history_parses_real_response():
    rec = recorded("fundingHistory")
    rows = [parse.funding_row(f, "BTC") for f in rec["response"]]
    assert rows[0] == ("BTC", 1683849600048, -0.00061334, -0.00091334)
    assert all(isinstance(r[1], int) for r in rows)
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


def test_malformed_candle_is_bad_input():
    with pytest.raises(BadInput, match='field "o": expected a decimal string'):
        parse.candle_row({"t": 1, "T": 2, "o": "x", "h": "1", "l": "1", "c": "1", "v": "1"},
                         "ETH", "1m")
    with pytest.raises(BadInput, match='field "T": expected an integer'):
        parse.candle_row({"t": 1, "o": "1"}, "ETH", "1m")


def test_candle_paging_advances_past_the_cap_without_duplicates():
    step = 60_000
    all_t = list(range(0, 12_000 * step, step))

    def respond(path, body):
        req = body["req"]
        # the exchange includes the candle containing startTime; cap at 5000
        ts = [t for t in all_t if req["startTime"] - step < t <= req["endTime"]][:5000]
        return 200, [{"t": t, "T": t + step - 1, "o": "1", "h": "1", "l": "1", "c": "1",
                      "v": "1", "n": 1} for t in ts], None

    with FakeServer(respond) as srv:
        pages = list(client(srv.url).candle_pages("ETH", "1m", 0, all_t[-1]))
    assert [len(p) for p in pages] == [5000, 5000, 2000]
    got = [c["t"] for p in pages for c in p]
    assert got == all_t
    assert len(srv.requests) == 3


def test_funding_paging_past_500():
    hours = [h * 3_600_000 + 37 for h in range(1234)]

    def respond(path, body):
        ts = [t for t in hours if body["startTime"] <= t <= body.get("endTime", 10**15)][:500]
        return 200, [{"coin": "ETH", "fundingRate": "0.0001", "premium": "0", "time": t}
                     for t in ts], None

    with FakeServer(respond) as srv:
        got = [f["time"] for p in client(srv.url).funding_pages("ETH", 0, 10**13) for f in p]
    assert got == hours
    assert [r[1]["startTime"] for r in srv.requests][:3] == [0, hours[499] + 1, hours[999] + 1]


def test_retries_on_429_and_5xx_then_succeeds_honouring_retry_after():
    answers = [(429, b"null", {"Retry-After": "0.02"}), (502, b"bad gateway", None),
               (200, {"ETH": "1.5"}, None)]
    with FakeServer(lambda p, b: answers.pop(0)) as srv:
        c = client(srv.url)
        assert c.all_mids() == {"ETH": "1.5"}
    assert len(srv.requests) == 3
    assert c.sleeps[0] == pytest.approx(0.02)               # Retry-After honoured
    assert 0.005 <= c.sleeps[1] <= 0.02                      # backoff with jitter


def test_retries_run_out_with_temporary_failure():
    with FakeServer(lambda p, b: (503, b"busy", None)) as srv:
        c = client(srv.url, retries=2)
        with pytest.raises(TemporaryFailure) as e:
            c.meta()
    assert e.value.exit_code == ExitCode.TEMPFAIL
    assert "HTTP 503; gave up after 3 tries" in e.value.msg
    assert len(srv.requests) == 3
    assert c.sleeps[1] > c.sleeps[0] * 0.9                  # exponential, modulo jitter


def test_client_error_is_not_retried():
    with FakeServer(lambda p, b: (422, b"Failed to deserialize", None)) as srv:
        with pytest.raises(ExchangeError, match="HTTP 422"):
            client(srv.url).meta()
    assert len(srv.requests) == 1


def test_unreachable_is_temporary():
    c = client("http://127.0.0.1:9", retries=1)
    with pytest.raises(TemporaryFailure, match="cannot connect.*gave up after 2 tries"):
        c.meta()


def test_weights_follow_the_documented_table():
    assert weights.info_weight("allMids") == 2
    assert weights.info_weight("l2Book") == 2
    assert weights.info_weight("meta") == 20
    assert weights.info_weight("candleSnapshot") == 20
    assert weights.info_weight("userRole") == 60
    assert weights.extra_weight("candleSnapshot", 5000) == 84      # 20 + 84 = 104 a full page
    assert weights.extra_weight("fundingHistory", 500) == 25
    assert weights.extra_weight("fundingHistory", 21) == 2
    assert weights.extra_weight("meta", 100) == 0
    assert weights.exchange_weight(79) == 2


def test_budget_waits_instead_of_overspending():
    now = [0.0]
    b = weights.WeightBudget(120, clock=lambda: now[0])      # 2 weight a second
    assert b.take(100) == 0
    assert b.take(30) == pytest.approx(5.0)                  # 10 left, 20 short
    now[0] += 5.0
    assert b.take(30) == 0
    b.charge(50)                                             # post-response extra weight
    assert b.take(2) == pytest.approx(26.0)


def test_client_paces_itself_under_its_budget():
    now = [0.0]
    with FakeServer(lambda p, b: (200, {}, None)) as srv:
        def sleep(s):
            now[0] += s
        c = InfoClient(srv.url, weight_per_min=60, sleep=sleep)
        c.budget.clock = lambda: now[0]
        c.budget.stamp = 0.0
        for _ in range(5):
            c.meta()                                          # 20 weight each, 60 a minute
    assert now[0] == pytest.approx(40.0)                      # 3 at once, then one per 20 s


def test_timeout_is_retried():
    import time as _time
    calls = []

    def respond(path, body):
        calls.append(1)
        if len(calls) == 1:
            _time.sleep(0.5)
        return 200, {"ETH": "2"}, None

    with FakeServer(respond) as srv:
        c = client(srv.url, timeout_s=0.1)
        assert c.all_mids() == {"ETH": "2"}
    assert len(calls) == 2
