"""The /exchange client against hl-sim: nonces that only go up, and an order whose answer is lost
resolved by asking for its cloid, never placed twice."""

import pytest
import requests
from eth_account import Account

from perpbot.hl import signing
from perpbot.hl.account import LiveAccount
from perpbot.hl.client import InfoClient
from perpbot.hl.exchange import ExchangeClient, ExchangeRefused, NonceSource
from perpbot.store import Store

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
WALLET = Account.from_key(KEY)
ME = WALLET.address.lower()


def test_nonces_only_go_up_across_processes(tmp_path):
    with Store.open(tmp_path / "perpbot.db") as st:
        frozen = NonceSource(st, ME, lambda: 1_700_000_000_000)
        assert [frozen.next() for _ in range(3)] == [1_700_000_000_000 + k for k in range(3)]
    with Store.open(tmp_path / "perpbot.db") as st:       # a new process, the clock behind
        assert NonceSource(st, ME, lambda: 1_699_000_000_000).next() == 1_700_000_000_003
        assert NonceSource(st, ME, lambda: 1_800_000_000_000).next() == 1_800_000_000_000


@pytest.fixture
def exchange(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1", "--account", f"{ME}=100000")
    requests.post(s.url + "/sim/clock", json={"speed": 0}, timeout=5)
    now = requests.get(s.url + "/sim/time", timeout=5).json()["time"]
    store = Store.open(tmp_path / "perpbot.db")
    info = InfoClient(s.url, retries=0)
    client = ExchangeClient(s.url, LiveAccount("testnet", ME, ME, WALLET),
                            NonceSource(store, ME, lambda: now), info, timeout_s=5,
                            backoff_s=0.01, backoff_max_s=0.05)
    mid = float(info.all_mids()["ETH"])
    yield s, client, info, mid
    store.close()


def ioc(mid, cloid):
    return signing.order_wire(0, True, float(f"{mid * 1.01:.1f}"), 0.1, False,
                              {"limit": {"tif": "Ioc"}}, cloid)


def fills_of(info, cloid):
    return [f for f in info.post_info({"type": "userFills", "user": ME}) if f.get("cloid") == cloid]


@pytest.mark.parametrize("fault", [
    {"drop": True, "after": True},          # placed, then the answer lost
    {"status": 502, "after": True},         # placed, then a 5xx
    {"drop": True},                         # lost before it was placed
])
def test_an_order_whose_answer_is_lost_is_asked_for_never_sent_twice(exchange, fault):
    s, client, info, mid = exchange
    cloid = "0x" + "a" * 32
    warned = []
    client.log = type("Log", (), {"warning": lambda self, msg, **f: warned.append(msg)})()
    requests.post(s.url + "/sim/fault", json={"path": "/exchange", "count": 1, **fault},
                  timeout=5)
    (status,) = client.place([ioc(mid, cloid)])
    assert warned == ["order outcome unknown: asking the exchange by cloid"]
    assert status["filled"]["cloid"] == cloid
    assert len(fills_of(info, cloid)) == 1                  # one order, one fill
    # the same intent again (a restarted process): the exchange knows it, nothing is sent
    assert client.order_status(cloid)["filled"]["oid"] == status["filled"]["oid"]


def test_resting_and_refused_orders_and_a_429(exchange):
    s, client, info, mid = exchange
    cloid = "0x" + "b" * 32
    below = float(f"{mid * 0.99:.1f}")
    requests.post(s.url + "/sim/fault", json={"path": "/exchange", "count": 2, "status": 429},
                  timeout=5)
    (status,) = client.place([signing.order_wire(0, True, below, 0.1, False,
                                                 {"limit": {"tif": "Alo"}}, cloid)])
    assert status == {"resting": {"oid": status["resting"]["oid"], "cloid": cloid}}
    # a per-order error is a status, not an exception: the caller reads each one
    (bad,) = client.place([signing.order_wire(0, True, below, 0.001, False,
                                              {"limit": {"tif": "Gtc"}}, "0x" + "c" * 32)])
    assert bad == {"error": "Order must have minimum value of $10."}
    stranger = ExchangeClient(s.url, LiveAccount("testnet", ME, ME, Account.create()),
                              client.nonces, info)
    with pytest.raises(ExchangeRefused, match="does not exist"):
        stranger.send(signing.noop_action())
    with pytest.raises(ValueError, match="cloid"):
        client.place([signing.order_wire(0, True, below, 0.1, False, {"limit": {"tif": "Gtc"}})])
