"""The live trader against hl-sim on a market of known prices, its clock stepped by the trader's
own waits: a post-only entry that follows the touch and fills, its stop on the exchange, an exit
that cancels the stop; a stop that fires booked by reconciliation; an adopted position, a
missing stop and an orphan order put right; an answer lost, never a second order."""

import orjson
import pytest
import requests
from eth_account import Account

from conftest import write_config
from livehelp import KEY, ME, MIN, T0, Log, info, live_setup, market_file, sim_stats
from loophelp import set_clock, sim_time
from perpbot import config, records
from perpbot.execution.live import connect, order_cloid
from perpbot.store import Store
from perpbot.execution.reconcile import reconcile
from perpbot.hl import signing
from perpbot.hl.rules import round_price

FLAT = [100.0] * 30
# flat, a rise the entry must follow, then a fall through it
RISE_FALL = FLAT + [100.2, 99.5, 99.0] + [99.0] * 30


def intent(action, side, size, price, t, cloid_char, reason="entry"):
    return records.make("intent", symbol="TEST", t=t - MIN, action=action, side=side, size=size,
                        price=price, reason=reason, cloid="0x" + cloid_char * 32, decided_at=t)


def exchange_fills(url, oids):
    return [f for f in info(url, "userFills") if f["oid"] in oids]


def position(url):
    ps = info(url, "clearinghouseState")["assetPositions"]
    return float(ps[0]["position"]["szi"]) if ps else 0.0


def triggers(url):
    return [o for o in info(url, "frontendOpenOrders") if o["isTrigger"]]


def test_entry_follows_the_touch_then_its_stop_rests_and_the_exit_cancels_it(sim, tmp_path):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, RISE_FALL, 30)
    now = step.now
    (fill,) = trader.execute(intent("open", "long", 1.5, 100.0, now, "1"), now)
    # the entry followed the rising touch (a new oid each time) and filled when it fell back
    assert len(fill["oids"]) == 1 and fill["oid"] == fill["oids"][0]
    (entry,) = trader.store.live_orders(kinds=("entry",))
    assert entry.cloid == "0x" + "1" * 32 and len(entry.oids) > 3
    got = exchange_fills(s.url, set(entry.oids))
    assert sum(float(f["sz"]) for f in got) == pytest.approx(1.5)
    vwap = sum(float(f["px"]) * float(f["sz"]) for f in got) / 1.5
    assert fill["price"] == pytest.approx(vwap, rel=1e-12)
    assert fill["fee"] == pytest.approx(sum(float(f["fee"]) for f in got), rel=1e-12)
    assert fill["fee"] == pytest.approx(vwap * 1.5 * 0.00015)       # a maker fill
    assert fill["size"] == 1.5 and fill["mode"] == "live" and not fill["taker"]
    assert fill["decision_price"] == 100.0
    assert fill["slippage_bps"] == pytest.approx((vwap - 100.0) / 100.0 * 1e4)
    assert fill["t"] == max(f["time"] for f in got)
    assert records.explain("fill", fill) == []
    # the stop: reduce-only, market, the filled size, 3% under the entry on the tick
    (stop,) = triggers(s.url)
    assert stop["reduceOnly"] and stop["orderType"] == "Stop Market" and stop["side"] == "A"
    assert float(stop["sz"]) == 1.5
    assert float(stop["triggerPx"]) == round_price(vwap * 0.97, 3)
    assert stop["cloid"] == order_cloid(fill["cloid"], "stop", 0)
    # the same intent again (a tick run again): the recorded fill, nothing sent
    before = sim_stats(s.url)["orders"]
    assert trader.execute(intent("open", "long", 1.5, 100.0, now, "1"), step.now) == [fill]
    assert sim_stats(s.url)["orders"] == before
    # the exit: the stop cancelled, one reduce-only IOC for the whole position
    now = step.now
    mid = trader.venue.mid("TEST")
    (out,) = trader.execute(intent("close", "long", 1.5, mid, now, "2", "exit_z"), now)
    assert position(s.url) == 0.0 and triggers(s.url) == []
    (exit_,) = trader.store.live_orders(kinds=("exit",))
    got = exchange_fills(s.url, set(exit_.oids))
    assert out["price"] == pytest.approx(float(got[0]["px"])) and out["taker"]
    assert out["side"] == "long" and out["action"] == "close" and out["size"] == 1.5
    fees = fill["fee"] + out["fee"]
    assert out["pnl"] == pytest.approx((out["price"] - fill["price"]) * 1.5 - fees)
    assert trader.store.open_position("TEST", "live") is None
    assert sim_stats(s.url)["duplicate_cloids"] == 0


def test_an_entry_not_filled_in_time_is_cancelled_and_nothing_is_recorded(sim, tmp_path):
    rising = FLAT + [100.0 + 0.5 * k for k in range(1, 40)]
    s, cfg, trader, step, log = live_setup(sim, tmp_path, rising, 30,
                                           execution={"entry_timeout_s": 30.0})
    assert trader.execute(intent("open", "long", 1.0, 100.0, step.now, "3"), step.now) == []
    assert "entry not filled: cancelled" in log.msgs("warning")
    assert info(s.url, "frontendOpenOrders") == [] and position(s.url) == 0.0
    assert trader.store.open_position("TEST", "live") is None
    # never chased beyond max_slippage_bps (100) of the decision price
    (entry,) = trader.store.live_orders(kinds=("entry",))
    assert entry.status == "canceled" and entry.px <= 101.0


def test_ioc_fallback_crosses_within_the_bound(sim, tmp_path):
    rising = FLAT + [100.0 + 0.05 * k for k in range(1, 40)]
    s, cfg, trader, step, log = live_setup(
        sim, tmp_path, rising, 30, execution={"entry_timeout_s": 20.0, "entry_fallback": "ioc"})
    (fill,) = trader.execute(intent("open", "long", 1.0, 100.0, step.now, "4"), step.now)
    assert fill["taker"] and fill["size"] == 1.0 and fill["price"] <= 101.0
    kinds = [o.kind for o in trader.store.live_orders(intent=fill["cloid"])]
    assert kinds == ["entry", "entry_ioc", "stop"]


def test_stale_and_too_small_intents_are_not_placed(sim, tmp_path):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, RISE_FALL, 30)
    old = intent("open", "long", 1.0, 100.0, step.now - 301_000, "5")
    assert trader.execute(old, step.now) == []
    assert "intent too old: not placed" in log.msgs("warning")
    assert trader.execute(intent("open", "long", 0.05, 100.0, step.now, "6"), step.now) == []
    assert "entry below the exchange's $10 minimum: not placed" in log.msgs("warning")
    assert sim_stats(s.url)["orders"] == 0


def test_a_stop_that_fires_is_booked_by_reconciliation_with_a_cooldown(sim, tmp_path):
    crash = FLAT + [99.9, 99.8, 100.0, 95.0, 90.0] + [90.0] * 30
    s, cfg, trader, step, log = live_setup(sim, tmp_path, crash, 30)
    (fill,) = trader.execute(intent("open", "long", 1.0, 100.0, step.now, "7"), step.now)
    step.to(T0 + 35 * MIN)                  # through 97: the stop fires on the mark
    assert position(s.url) == 0.0
    done = reconcile(trader, step.now)
    (rec,) = done["closed"]
    assert rec["reason"] == "exchange_stop" and rec["taker"]
    (stop,) = trader.store.live_orders(kinds=("stop",))
    got = exchange_fills(s.url, set(stop.oids) | {rec["oid"]})
    assert rec["price"] == pytest.approx(float(got[0]["px"]))
    assert rec["pnl"] == pytest.approx((rec["price"] - fill["price"]) * 1.0 - fill["fee"]
                                       - rec["fee"])
    assert trader.store.cooldown_until("live") >= rec["t"] + 30 * MIN
    assert trader.store.open_position("TEST", "live") is None
    assert reconcile(trader, step.now) == {k: [] for k in done}     # nothing more to do


def test_reconciliation_adopts_replaces_the_stop_and_cancels_orphans(sim, tmp_path):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, FLAT * 3, 30)
    client, asset = trader.venue.client, trader.venue.asset("TEST")
    # a position made by hand on the exchange (not in the ledger)
    (st,) = client.place([signing.order_wire(asset, False, 99.0, 2.0, False,
                                             {"limit": {"tif": "Ioc"}}, "0x" + "e" * 32)])
    assert "filled" in st
    # and an entry order of ours left resting by a process that died
    trader.store.journal_order("0x" + "f" * 32, "0x" + "f" * 32, "TEST", "entry", 0, 98.0,
                               step.now)
    client.place([signing.order_wire(asset, True, 98.0, 1.0, False, {"limit": {"tif": "Alo"}},
                                     "0x" + "f" * 32)])
    done = reconcile(trader, step.now)
    assert done["adopted"] == ["TEST"] and done["stops"] == ["TEST"]
    assert done["cancelled"] == ["0x" + "f" * 32]
    pos = trader.store.open_position("TEST", "live")
    assert (pos.side, pos.size, pos.price) == ("short", 2.0, 99.99)
    (stop,) = triggers(s.url)
    assert float(stop["triggerPx"]) == round_price(99.99 * 1.03, 3) and float(stop["sz"]) == 2.0
    # the stop cancelled by hand: the next reconciliation puts it back
    client.send(signing.cancel_action([(asset, stop["oid"])]))
    assert triggers(s.url) == []
    assert reconcile(trader, step.now)["stops"] == ["TEST"]
    assert len(triggers(s.url)) == 1
    # part of the position closed by hand: the ledger's size follows
    client.place([signing.order_wire(asset, True, 101.0, 0.5, True, {"limit": {"tif": "Ioc"}},
                                     "0x" + "d" * 32)])
    done = reconcile(trader, step.now)
    assert done["resized"] == ["TEST"] and done["stops"] == ["TEST"]
    assert trader.store.open_position("TEST", "live").size == 1.5
    (stop,) = triggers(s.url)
    assert float(stop["sz"]) == 1.5
    warnings = log.msgs("warning")
    assert all(w.startswith("reconciled: ") for w in warnings) and len(warnings) == 7


def test_a_position_whose_stop_cannot_be_placed_is_closed_at_once(sim, tmp_path):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, FLAT * 3, 30)
    client, asset = trader.venue.client, trader.venue.asset("TEST")
    client.place([signing.order_wire(asset, True, 101.0, 1.0, False, {"limit": {"tif": "Ioc"}},
                                     "0x" + "c" * 32)])
    requests.post(s.url + "/sim/fault", json={"path": "/exchange", "count": 2, "status": 400},
                  timeout=5)
    reconcile(trader, step.now)
    assert log.msgs("critical") == ["stop could not be placed: closing the position now"]
    assert position(s.url) == 0.0 and trader.store.open_position("TEST", "live") is None
    (close,) = trader.store.conn.execute(
        "SELECT reason FROM trades WHERE action = 'close'").fetchall()
    assert close == ("stop_unplaced",)


@pytest.mark.parametrize("fault", [{"drop": True, "after": True},
                                   {"status": 502, "after": True}])
def test_an_entry_whose_answer_is_lost_is_placed_once(sim, tmp_path, fault):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, RISE_FALL, 30)
    trader.ensure_leverage(["TEST"])
    requests.post(s.url + "/sim/fault", json={"path": "/exchange", "count": 1, **fault},
                  timeout=5)
    (fill,) = trader.execute(intent("open", "long", 1.0, 100.0, step.now, "8"), step.now)
    assert "order outcome unknown: asking the exchange by cloid" in log.msgs("warning")
    assert fill["size"] == 1.0
    assert sim_stats(s.url)["duplicate_cloids"] == 0


def test_an_order_journalled_but_never_sent_is_sent_once_by_the_next_process(sim, tmp_path):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, RISE_FALL, 30)
    it = intent("open", "long", 1.0, 100.0, step.now, "9")
    # a process died between the journal and the request
    trader.store.journal_order(it["cloid"], it["cloid"], "TEST", "entry", 0, 99.99, step.now)
    (fill,) = trader.execute(it, step.now)
    (entry,) = trader.store.live_orders(kinds=("entry",))
    assert fill["size"] == 1.0 and entry.status == "filled"
    assert sim_stats(s.url)["duplicate_cloids"] == 0


def test_funding_paid_on_the_exchange_is_in_the_close(sim, tmp_path):
    s, cfg, trader, step, log = live_setup(sim, tmp_path, [100.0] * 200, 30)
    client, asset = trader.venue.client, trader.venue.asset("TEST")
    client.place([signing.order_wire(asset, True, 101.0, 3.0, False, {"limit": {"tif": "Ioc"}},
                                     "0x" + "b" * 32)])
    reconcile(trader, step.now)                         # adopted, with its stop
    step.to(T0 + 150 * MIN)                             # two funding hours later
    paid = info(s.url, "userFunding", startTime=T0)
    assert len(paid) == 2
    received = sum(float(p["delta"]["usdc"]) for p in paid)
    assert received != 0.0
    (out,) = trader.execute(intent("close", "long", 3.0, 100.0, step.now, "a", "exit_z"),
                            step.now)
    pos_fee = 0.0                                       # adopted: its entry fee is unknown
    assert out["funding"] == pytest.approx(received, rel=1e-9)
    assert out["pnl"] == pytest.approx((out["price"] - 100.01) * 3.0 - pos_fee - out["fee"]
                                       + received)


def test_a_partly_filled_entry_keeps_its_part_and_the_stop_is_that_size(sim, tmp_path):
    # the price dips through the bid for one look, then rises away
    dip = FLAT + [99.98, 100.5, 101.0] + [101.0] * 30
    s, cfg, trader, step, log = live_setup(sim, tmp_path, dip, 30, "--resting-fill", "0.25",
                                           execution={"entry_timeout_s": 120.0})
    step.step_ms = 20_000
    (fill,) = trader.execute(intent("open", "long", 2.0, 100.0, step.now, "1"), step.now)
    assert 0 < fill["size"] < 2.0
    (entry,) = trader.store.live_orders(kinds=("entry",))
    got = exchange_fills(s.url, set(entry.oids))
    assert fill["size"] == pytest.approx(sum(float(f["sz"]) for f in got))
    assert position(s.url) == pytest.approx(fill["size"])
    (stop,) = triggers(s.url)
    assert float(stop["sz"]) == pytest.approx(fill["size"])
    assert trader.store.open_position("TEST", "live").size == fill["size"]


def test_an_agent_wallet_trades_the_account_it_names(sim, tmp_path):
    master, agent = Account.from_key(KEY), Account.create()
    f = market_file(tmp_path / "TEST.json", RISE_FALL)
    s = sim("--market", f"{f}:TEST", "--start", str(T0 + 30 * MIN), "--account", f"{ME}=100000")
    set_clock(s.url, speed=0)
    nonce = sim_time(s.url)
    approve = signing.approve_agent_action(agent.address, "bot", nonce)
    sig = signing.sign_user_signed_action(master, approve, signing.APPROVE_AGENT_TYPES,
                                          "HyperliquidTransaction:ApproveAgent", False)
    requests.post(s.url + "/exchange", json={"action": approve, "nonce": nonce, "signature": sig,
                                             "vaultAddress": None, "expiresAfter": None},
                  timeout=5)
    path = write_config(tmp_path, s.url, symbols=["TEST"], exchange={"network": "testnet"})
    cfg = config.load(path, environ={"HL_PRIVATE_KEY": agent.key.hex(),
                                     "HL_ACCOUNT_ADDRESS": master.address})
    trader = connect(cfg, Store.open(cfg.db_path), Log())
    assert trader.venue.account.address == ME
    assert trader.venue.account.signer == agent.address.lower()
    trader.ensure_leverage(["TEST"])
    (st,) = trader.venue.client.place([signing.order_wire(0, True, 101.0, 1.0, False,
                                                          {"limit": {"tif": "Ioc"}},
                                                          "0x" + "a" * 32)])
    assert "filled" in st
    assert position(s.url) == 1.0                       # the master's account
    done = reconcile(trader, sim_time(s.url))           # its queries name the master
    assert done["adopted"] == ["TEST"] and done["stops"] == ["TEST"]


@pytest.mark.parametrize("stage, args", [("supervise", ["--mode", "live"]),
                                         ("execute", ["--mode", "live"])])
def test_live_refusals_exit_2_in_one_line_before_any_exchange_request(sim, tmp_path, stage,
                                                                      args):
    from conftest import run
    s = sim("--synthetic", "ETH", "--history-days", "0.1", "--account", f"{ME}=1000")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"])        # no exchange.network
    r = run(stage, *args, "--config", cfg, input=b"", env={"HL_PRIVATE_KEY": KEY})
    assert r.returncode == 2
    (line,) = r.stderr.decode().strip().splitlines()
    msg = orjson.loads(line)["msg"]
    assert 'key "exchange.network": required for' in msg and KEY[2:] not in line
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], exchange={"network": "testnet"})
    r = run(stage, *args, "--config", cfg, input=b"", unset=("HL_PRIVATE_KEY",))
    assert r.returncode == 2 and b"HL_PRIVATE_KEY is not set" in r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1
    assert info(s.url, "frontendOpenOrders") == [] and sim_stats(s.url)["orders"] == 0
    assert not (tmp_path / "perp-bot.sock").exists()


def test_a_leverage_the_exchange_refuses_stops_the_start_with_its_words(sim, tmp_path):
    from conftest import run
    s = sim("--synthetic", "ETH", "--history-days", "0.1", "--account", f"{ME}=1000")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], exchange={"network": "testnet"})
    requests.post(s.url + "/sim/fault", json={"path": "/exchange", "count": 1, "status": 400},
                  timeout=5)
    r = run("supervise", "--mode", "live", "--config", cfg, env={"HL_PRIVATE_KEY": KEY},
            timeout=60)
    assert r.returncode == 1
    assert b"updateLeverage ETH 3x cross refused: updateLeverage: HTTP 400: hl-sim fault 400" \
        in r.stderr
