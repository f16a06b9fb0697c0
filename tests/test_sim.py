import json
import time

import numpy as np
import pandas as pd
import pytest
import requests
import websocket

from conftest import shared_file
from perpbot.hl import weights
from perpbot.sim import market as mk
from perpbot.sim.server import Clock

MIN = 60_000


def file_frame(path):
    df = pd.DataFrame(json.loads(path.read_text()))
    for k in ("o", "h", "l", "c", "v"):
        df[k] = df[k].astype(float)
    return df


@pytest.fixture(scope="module")
def unit():
    path = shared_file("markets/UNITTEST_BTC-1m.json")
    return path, mk.load_candle_file(path, "BTC")


def test_file_candles_served_as_in_the_file(unit):
    path, m = unit
    df = file_frame(path)
    got = m.candles("1m", int(df.t.iloc[0]), int(df.t.iloc[-1]), m.end_ms, 10**6)
    assert len(got) == len(df) == 13_681
    assert [c["t"] for c in got] == df.t.tolist()
    for k in ("o", "h", "l", "c", "v"):
        assert [float(c[k]) for c in got] == df[k].tolist()
    assert all(c["s"] == "BTC" and c["T"] == c["t"] + MIN - 1 for c in got)


def test_response_capped_at_5000(unit):
    _, m = unit
    got = m.candles("1m", 0, m.end_ms, m.end_ms, weights.CANDLE_CAP)
    assert len(got) == 5000 and got[0]["t"] == m.first_ms


def test_coarser_interval_aggregates_the_base(unit):
    path, m = unit
    df = file_frame(path)
    df["b"] = df.t - df.t % (15 * MIN)
    g = df.groupby("b")
    want = pd.DataFrame({"o": g.o.first(), "h": g.h.max(), "l": g.l.min(), "c": g.c.last(),
                         "v": g.v.sum()})
    got = m.candles("15m", 0, m.end_ms, m.end_ms, 10**6)
    assert [c["t"] for c in got] == want.index.tolist()
    for k in ("o", "h", "l", "c"):
        assert [float(c[k]) for c in got] == want[k].tolist()
    assert np.allclose([float(c["v"]) for c in got], want.v, rtol=1e-12)
    assert m.candles("1m", 0, m.end_ms, m.end_ms, 10)[0]["i"] == "1m"


def test_nothing_after_the_clock_and_the_forming_candle_is_partial(unit):
    _, m = unit
    t0 = m.first_ms + 100 * MIN
    now = t0 + 30_000                             # half-way through candle t0
    got = m.candles("1m", m.first_ms, m.end_ms, now, 10**6)
    last = got[-1]
    assert last["t"] == t0 and last["T"] >= now    # the forming one, as the exchange sends it
    assert all(c["t"] <= now for c in got)
    i = int(np.searchsorted(m.t, t0))
    o, c_full = m.o[i], m.c[i]
    assert float(last["c"]) == pytest.approx(o + (c_full - o) * 0.5)
    assert float(last["h"]) == max(o, float(last["c"]))
    hour = m.candles("1h", t0, t0, now, 10)
    assert len(hour) == 1 and float(hour[0]["c"]) == float(last["c"])


def test_derived_funding_is_hourly_and_uses_only_closed_candles(unit):
    _, m = unit
    f = m.funding()
    assert np.all(np.diff(f.t) == 3_600_000)
    assert np.all(f.t % 3_600_000 == mk.FUNDING_OFFSET_MS)
    assert np.all(np.abs(f.rate) <= 0.04)
    # Changing a candle after an hour boundary never changes that hour's funding.
    m2 = mk.load_candle_file(unit[0], "BTC")
    h = int(f.t[5]) - mk.FUNDING_OFFSET_MS
    j = int(np.searchsorted(m2.t, h))
    m2.c[j:] *= 3.0
    assert np.array_equal(mk.derive_funding(m2).rate[:6], f.rate[:6])


def test_clock_runs_at_speed():
    now = [100.0]
    c = Clock(1_000_000, speed=60, mono=lambda: now[0])
    assert c.now_ms() == 1_000_000
    now[0] += 2.5
    assert c.now_ms() == 1_000_000 + 150_000


def test_synthetic_is_deterministic_whatever_the_steps():
    a = mk.SyntheticMarket("ETH", 7, 0)
    b = mk.SyntheticMarket("ETH", 7, 0)
    a.ensure(10 * 86_400_000)
    for d in range(1, 11):
        b.ensure(d * 86_400_000 - 1)
    n = len(b.t)
    assert np.array_equal(a.c[:n], b.c[:n]) and np.array_equal(a.h[:n], b.h[:n])
    other = mk.SyntheticMarket("ETH", 8, 0)
    assert not np.array_equal(other.c[:1000], a.c[:1000])
    assert not np.array_equal(mk.SyntheticMarket("BTC", 7, 0).c[:1000], a.c[:1000])


def test_synthetic_has_all_spells_and_valid_candles():
    m = mk.SyntheticMarket("ETH", 42, 0)
    m.ensure(60 * 86_400_000)
    assert {r for _, r in m.regimes} == {"range", "trend", "volatile"}
    assert np.all(m.h >= np.maximum(m.o, m.c)) and np.all(m.l <= np.minimum(m.o, m.c))
    assert np.all(np.diff(m.t) == MIN)
    assert np.array_equal(m.o[1:], m.c[:-1])
    # 5 significant figures, as the exchange's prices
    assert np.all(mk.round_sig(m.c) == m.c)
    # Mean reversion: in range spells, 1-hour returns are negatively autocorrelated.
    starts = [t for t, r in m.regimes]
    spans = zip(m.regimes, starts[1:] + [int(m.t[-1])])
    r = []
    for (t0, kind), t1 in spans:
        if kind == "range":
            seg = m.c[(m.t >= t0) & (m.t < t1)][::60]
            if len(seg) > 20:
                r.append(np.diff(np.log(seg)))
    x = np.concatenate([s[:-1] for s in r])
    y = np.concatenate([s[1:] for s in r])
    assert np.corrcoef(x, y)[0, 1] < -0.05
    f = m.funding()
    assert len(f.t) >= 59 * 24 and np.any(f.rate > 0) and np.any(f.rate < 0)


# the server, as a subprocess ------------------------------------------------------------------

def post(url, body):
    return requests.post(url + "/info", json=body, timeout=5)


def test_server_enforces_the_weight_budget(sim):
    s = sim("--synthetic", "ETH", "--weight-per-min", "100", "--history-days", "1")
    codes = [post(s.url, {"type": "meta"}).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]                      # 20 weight each, 100 a minute
    assert post(s.url, {"type": "nope"}).status_code == 422


def test_server_info_types_and_fault_injection(sim):
    s = sim("--synthetic", "ETH", "--history-days", "2", "--start", "2026-01-01T00:00:30")
    now = requests.get(s.url + "/sim/time", timeout=5).json()["time"]
    assert 1767225630000 <= now < 1767225630000 + 60_000
    mids = post(s.url, {"type": "allMids"}).json()
    book = post(s.url, {"type": "l2Book", "coin": "ETH"}).json()
    assert float(book["levels"][0][0]["px"]) < float(mids["ETH"]) < float(book["levels"][1][0]["px"])
    assert len(book["levels"][0]) == 20
    meta, ctxs = post(s.url, {"type": "metaAndAssetCtxs"}).json()
    assert meta["universe"][0]["name"] == "ETH" and "markPx" in ctxs[0]
    state = post(s.url, {"type": "clearinghouseState", "user": "0xAB"}).json()
    assert state["marginSummary"]["accountValue"] == "10000.0"
    assert post(s.url, {"type": "openOrders", "user": "0xab"}).json() == []
    assert post(s.url, {"type": "userFills", "user": "0xab"}).json() == []
    requests.post(s.url + "/sim/fault", json={"path": "/info", "count": 2, "status": 502}, timeout=5)
    assert [post(s.url, {"type": "allMids"}).status_code for _ in range(3)] == [502, 502, 200]
    # an action with no nonce or signature is not even an action, as on the exchange
    ex = requests.post(s.url + "/exchange", json={"action": {"type": "order"}}, timeout=5)
    assert ex.status_code == 422 and ex.text.startswith("Failed to deserialize")


def test_websocket_subscriptions_and_ping(sim):
    s = sim("--synthetic", "ETH", "--history-days", "1", "--speed", "120")
    ws = websocket.create_connection(s.url.replace("http", "ws") + "/ws", timeout=5)
    try:
        assert ws.recv() == "Websocket connection established."
        ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "allMids"}}))
        ws.send(json.dumps({"method": "subscribe",
                            "subscription": {"type": "candle", "coin": "ETH", "interval": "1m"}}))
        ws.send(json.dumps({"method": "ping"}))
        seen = {}
        deadline = time.time() + 5
        while time.time() < deadline and not ({"pong", "allMids"} <= set(seen) and
                                              len(seen.get("candle", [])) >= 3):
            msg = json.loads(ws.recv())
            seen.setdefault(msg["channel"], []).append(msg["data"] if "data" in msg else None)
        assert len(seen["subscriptionResponse"]) == 2
        assert "ETH" in seen["allMids"][0]["mids"]
        candles = seen["candle"]
        assert all(c["s"] == "ETH" and c["i"] == "1m" for c in candles)
        assert [c["t"] for c in candles] == sorted(c["t"] for c in candles)
        assert len({c["t"] for c in candles}) >= 2           # at 120x a candle closes every 0.5 s
        ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "allMids"}}))
        while True:
            msg = json.loads(ws.recv())
            if msg["channel"] == "error":
                assert msg["data"] == "Already subscribed"
                break
    finally:
        ws.close()


# POST /exchange: signed actions verified as the exchange does ----------------------------------

def test_exchange_verifies_signer_nonce_and_expiry(sim):
    from eth_account import Account

    from perpbot.hl import signing
    key = "0x0123456789012345678901234567890123456789012345678901234567890123"
    wallet = Account.from_key(key)
    s = sim("--synthetic", "ETH", "--history-days", "1", "--account",
            f"{wallet.address}=5000", "--network", "testnet")
    now = requests.get(s.url + "/sim/time", timeout=5).json()["time"]

    def post(action, nonce, signer=wallet, mainnet=False, expires=None):
        sig = signing.sign_l1_action(signer, action, None, nonce, expires, mainnet)
        return requests.post(s.url + "/exchange", json={
            "action": action, "nonce": nonce, "signature": sig, "vaultAddress": None,
            "expiresAfter": expires}, timeout=5).json()

    ok = {"status": "ok", "response": {"type": "default"}}
    assert post(signing.update_leverage_action(0, 3), now) == ok
    assert post(signing.noop_action(), now) == \
        {"status": "err", "response": f"Invalid nonce: duplicate nonce {now}"}
    assert post(signing.noop_action(), now + 1) == ok
    stranger = Account.create()
    assert post(signing.noop_action(), now + 2, signer=stranger) == {
        "status": "err",
        "response": f"L1 error: User or API Wallet {stranger.address.lower()} does not exist."}
    # a mainnet signature on a testnet exchange recovers another address: refused the same way
    wrong = post(signing.noop_action(), now + 3, mainnet=True)
    assert wrong["status"] == "err" and wrong["response"].endswith("does not exist.")
    assert post(signing.noop_action(), now + 4, expires=now - 1) == \
        {"status": "err", "response": "Action already expired"}
    far = now + 2 * 86_400_000
    assert post(signing.noop_action(), far)["response"].startswith("Invalid nonce: nonce too high")


def test_orders_match_rest_trigger_and_cancel_in_the_exchanges_shapes(sim):
    from eth_account import Account

    from perpbot.hl import signing
    key = "0x0123456789012345678901234567890123456789012345678901234567890123"
    wallet = Account.from_key(key)
    me = wallet.address.lower()
    s = sim("--synthetic", "ETH", "--history-days", "1", "--account", f"{me}=100000")
    requests.post(s.url + "/sim/clock", json={"speed": 0}, timeout=5)
    nonce = [requests.get(s.url + "/sim/time", timeout=5).json()["time"]]

    def act(action):
        nonce[0] += 1
        sig = signing.sign_l1_action(wallet, action, None, nonce[0], None, False)
        r = requests.post(s.url + "/exchange", json={"action": action, "nonce": nonce[0],
                                                     "signature": sig, "vaultAddress": None,
                                                     "expiresAfter": None}, timeout=5).json()
        assert r["status"] == "ok", r
        return r["response"]["data"]["statuses"]

    def info(body):
        return requests.post(s.url + "/info", json=body, timeout=5).json()

    def order(is_buy, px, sz, tif="Gtc", reduce=False, cloid=None, trigger=None):
        t = {"trigger": trigger} if trigger else {"limit": {"tif": tif}}
        return act(signing.order_action([signing.order_wire(0, is_buy, px, sz, reduce, t,
                                                            cloid)]))[0]

    mid = float(info({"type": "allMids"})["ETH"])
    below, above = float(f"{mid * 0.99:.1f}"), float(f"{mid * 1.01:.1f}")
    c1, c2 = "0x" + "1" * 32, "0x" + "2" * 32
    # a post-only bid below the book rests; one above it would match: refused with the bbo
    assert order(True, below, 0.1, "Alo", cloid=c1) == {"resting": {"oid": 1_000_000, "cloid": c1}}
    assert order(True, above, 0.1, "Alo")["error"].startswith(
        "Post only order would have immediately matched, bbo was ")
    (o,) = info({"type": "openOrders", "user": me})
    assert o == {"coin": "ETH", "side": "B", "limitPx": repr(below), "sz": "0.1",
                 "oid": 1_000_000, "timestamp": o["timestamp"], "cloid": c1}
    st = info({"type": "orderStatus", "user": me, "oid": c1})
    assert st["status"] == "order" and st["order"]["status"] == "open"
    # the exchange's own checks
    assert order(True, 1234.567, 0.1)["error"] == "Price must be divisible by tick size."
    assert order(True, below, 0.001)["error"] == "Order must have minimum value of $10."
    assert order(False, below, 0.1, reduce=True)["error"] == \
        "Reduce only order would increase position."
    # an IOC through the book fills at the ask, taker; the position and the fill show it
    filled = order(True, above, 0.1, "Ioc", cloid=c2)["filled"]
    ask = mid * 1.0001
    assert filled["totalSz"] == "0.1" and float(filled["avgPx"]) == pytest.approx(ask)
    (pos,) = info({"type": "clearinghouseState", "user": me})["assetPositions"]
    assert pos["position"]["coin"] == "ETH" and float(pos["position"]["szi"]) == 0.1
    (fill,) = info({"type": "userFills", "user": me})
    assert fill["cloid"] == c2 and fill["crossed"] is True and fill["dir"] == "Open Long"
    assert float(fill["fee"]) == pytest.approx(ask * 0.1 * 0.00045, rel=1e-6)
    # a reduce-only stop above the mark fires at once (a sell stop fires when the mark is at or
    # below it) and closes the position at the mark
    assert "resting" in order(False, float(f"{mid * 0.9:.1f}"), 0.1, reduce=True,
                              trigger={"isMarket": True, "triggerPx": float(f"{mid * 1.001:.1f}"),
                                       "tpsl": "sl"})
    assert info({"type": "clearinghouseState", "user": me})["assetPositions"] == []
    fills = info({"type": "userFillsByTime", "user": me, "startTime": 0})
    assert [f["dir"] for f in fills] == ["Open Long", "Close Long"]
    # cancel by cloid: once
    assert act(signing.cancel_by_cloid_action([(0, c1)])) == ["success"]
    assert act(signing.cancel_by_cloid_action([(0, c1)])) == \
        [{"error": "Order was never placed, already canceled, or filled."}]
    assert info({"type": "openOrders", "user": me}) == []


def test_an_approved_agent_trades_for_its_master(sim):
    from eth_account import Account

    from perpbot.hl import signing
    master = Account.from_key("0x0123456789012345678901234567890123456789012345678901234567890123")
    agent = Account.create()
    s = sim("--synthetic", "ETH", "--history-days", "1", "--account",
            f"{master.address}=100000")
    requests.post(s.url + "/sim/clock", json={"speed": 0}, timeout=5)
    nonce = [requests.get(s.url + "/sim/time", timeout=5).json()["time"]]
    mid = float(requests.post(s.url + "/info", json={"type": "allMids"}, timeout=5).json()["ETH"])

    def post(action, sig):
        return requests.post(s.url + "/exchange", json={
            "action": action, "nonce": nonce[0], "signature": sig, "vaultAddress": None,
            "expiresAfter": None}, timeout=5).json()

    def buy(wallet):
        nonce[0] += 1
        action = signing.order_action([signing.order_wire(
            0, True, float(f"{mid * 1.01:.1f}"), 0.1, False, {"limit": {"tif": "Ioc"}},
            f"{nonce[0]:#034x}")])
        return post(action, signing.sign_l1_action(wallet, action, None, nonce[0], None, False))

    assert buy(agent)["response"].endswith("does not exist.")
    nonce[0] += 1
    approve = signing.approve_agent_action(agent.address, "bot", nonce[0])
    sig = signing.sign_user_signed_action(master, approve, signing.APPROVE_AGENT_TYPES,
                                          "HyperliquidTransaction:ApproveAgent", False)
    assert post(approve, sig) == {"status": "ok", "response": {"type": "default"}}
    assert "filled" in buy(agent)["response"]["data"]["statuses"][0]
    state = requests.post(s.url + "/info", json={"type": "clearinghouseState",
                                                 "user": master.address}, timeout=5).json()
    assert float(state["assetPositions"][0]["position"]["szi"]) == 0.1    # the master's
    # an agent cannot approve agents
    nonce[0] += 1
    other = signing.approve_agent_action(Account.create().address, "", nonce[0])
    sig = signing.sign_user_signed_action(agent, other, signing.APPROVE_AGENT_TYPES,
                                          "HyperliquidTransaction:ApproveAgent", False)
    assert post(other, sig)["status"] == "err"
