"""Alerts: the outbox and its sender against fake Discord and Telegram servers (429s with their
retry_after, a 404 that drops one message, a dead server, a restart with messages queued),
`alert --test`, the messages' words, and the loop's alerts end to end on hl-sim."""

import os
import signal
import subprocess

import pytest

from conftest import popen, run, write_config
from fakealerts import CHAT, TOKEN, FakeAlerts
from loophelp import loose_config, wait_for
from perpbot import config
from perpbot.alerts import Alerts, messages
from perpbot.alerts.sender import Sender
from perpbot.store import Store


@pytest.fixture
def fake():
    f = FakeAlerts()
    yield f
    f.close()


def cfg_with(tmp_path, fake, **extra):
    path = write_config(tmp_path, None, symbols=["ETH"],
                        alerts={"telegram_api_url": fake.url, **extra})
    return config.load(path, environ=fake.env())


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, msg, **f):
        self.lines.append((msg, f))

    info = error = warning


def clock():
    t = [0.0]
    return t, (lambda: t[0])


def drain(sender, st, rounds=20):
    for _ in range(rounds):
        sender.round(st)


def test_every_alert_goes_to_every_channel_once_in_order(tmp_path, fake):
    cfg = cfg_with(tmp_path, fake)
    alerts = Alerts(cfg)
    assert alerts.names == ["discord", "telegram"]
    for k in range(3):
        alerts.send("OPEN", f"OPEN long ETH {k}", key=f"fill:{k}")
    alerts.send("OPEN", "OPEN long ETH 0", key="fill:0")        # a tick run again: not twice
    t, now = clock()
    with Store.open(cfg.db_path) as st:
        drain(Sender(cfg.db_path, alerts.channels, 20, Log(), clock=now), st)
    assert fake.texts("discord") == fake.texts("telegram") == [f"OPEN long ETH {k}"
                                                               for k in range(3)]
    tg = [b for s, b in fake.received if s == "telegram"][0]
    assert tg["chat_id"] == CHAT and "parse_mode" not in tg


@pytest.mark.parametrize("service, answer", [
    ("discord", (429, {"message": "You are being rate limited.", "retry_after": 7.5,
                       "global": False}, {})),
    ("discord", (429, None, {"Retry-After": "7.5"})),
    ("telegram", (429, {"ok": False, "error_code": 429,
                        "parameters": {"retry_after": 7.5}}, {})),
])
def test_a_429_waits_its_retry_after_and_sends_nothing_else_meanwhile(tmp_path, fake, service,
                                                                      answer):
    cfg = cfg_with(tmp_path, fake)
    alerts = Alerts(cfg)
    alerts.send("OPEN", "first", key="a")
    alerts.send("CLOSE", "second", key="b")
    fake.then(service, answer)
    t, now = clock()
    log = Log()
    sender = Sender(cfg.db_path, alerts.channels, 20, log, clock=now)
    with Store.open(cfg.db_path) as st:
        drain(sender, st)
        assert fake.texts(service) == []            # blocked: nothing else sent
        other = "telegram" if service == "discord" else "discord"
        assert fake.texts(other) == ["first", "second"]
        t[0] = 7.4
        drain(sender, st)
        assert fake.texts(service) == []
        t[0] = 7.6
        drain(sender, st)
        assert fake.texts(service) == ["first", "second"]   # the same text, then the next
    assert [f["error"] for m, f in log.lines] == [f"{service}: HTTP 429"]


def test_another_4xx_drops_that_message_and_a_dead_server_is_retried(tmp_path, fake):
    cfg = cfg_with(tmp_path, fake)
    alerts = Alerts(cfg)
    for k in range(3):
        alerts.send("OPEN", f"m{k}", key=str(k))
    fake.then("discord", (404, {"message": "Unknown Webhook"}, {}))
    fake.then("telegram", (502, None, {}), (502, None, {}))
    t, now = clock()
    log = Log()
    sender = Sender(cfg.db_path, alerts.channels, 20, log, clock=now)
    with Store.open(cfg.db_path) as st:
        drain(sender, st)
        assert fake.texts("discord") == ["m1", "m2"]            # m0 dropped on discord only
        assert fake.texts("telegram") == []
        t[0] = 2.1                                              # backoff 2 s, then 4 s
        drain(sender, st)
        t[0] = 6.3
        drain(sender, st)
        assert fake.texts("telegram") == ["m0", "m1", "m2"]
        rows = st.alerts("discord")
    assert [r[3] for r in rows] == ["failed", "sent", "sent"]
    text = repr(log.lines) + repr(rows)
    assert "SECRET" not in text and fake.url not in text


def test_queued_alerts_survive_a_restart_and_an_unreachable_server(tmp_path):
    cfg = config.load(write_config(tmp_path, None, alerts={"telegram_api_url":
                                                           "http://127.0.0.1:9"}),
                      environ={"DISCORD_WEBHOOK_URL": "http://127.0.0.1:9/api/webhooks/1/SECRET",
                               "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT})
    alerts = Alerts(cfg)
    alerts.send("HALT", "HALT new entries")
    log = Log()
    t, now = clock()
    with Store.open(cfg.db_path) as st:
        drain(Sender(cfg.db_path, alerts.channels, 20, log, clock=now), st)
        assert [r[3] for r in st.alerts()] == ["pending", "pending"]
    assert "SECRET" not in repr(log.lines) and TOKEN not in repr(log.lines)
    assert {f["error"] for _, f in log.lines} == {"discord: ConnectionError",
                                                  "telegram: ConnectionError"}
    fake = FakeAlerts()                     # the servers come back, a new process sends
    try:
        cfg = cfg_with(tmp_path, fake)
        with Store.open(cfg.db_path) as st:
            drain(Sender(cfg.db_path, Alerts(cfg).channels, 20, Log(), clock=now), st)
        assert fake.texts("discord") == fake.texts("telegram") == ["HALT new entries"]
    finally:
        fake.close()


def test_at_most_max_per_minute(tmp_path, fake):
    cfg = cfg_with(tmp_path, fake, max_per_minute=3)
    alerts = Alerts(cfg)
    for k in range(5):
        alerts.send("OPEN", f"m{k}", key=str(k))
    t, now = clock()
    sender = Sender(cfg.db_path, alerts.channels, 3, Log(), clock=now)
    with Store.open(cfg.db_path) as st:
        drain(sender, st)
        assert len(fake.texts("discord")) == 3
        t[0] = 60.5
        drain(sender, st)
    assert len(fake.texts("discord")) == 5


def test_events_left_out_are_not_sent(tmp_path, fake):
    cfg = cfg_with(tmp_path, fake, events=["OPEN", "CLOSE"])
    alerts = Alerts(cfg)
    alerts.send("HEARTBEAT", "HEARTBEAT ...")
    alerts.send("OPEN", "OPEN ...")
    with Store.open(cfg.db_path) as st:
        assert [r[1] for r in st.alerts()] == ["OPEN", "OPEN"]


def test_alert_test_says_which_channel_took_it(tmp_path, fake):
    cfg = write_config(tmp_path, None, alerts={"telegram_api_url": fake.url})
    r = run("alert", "--test", "--config", cfg, env=fake.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["discord: delivered", "telegram: delivered"]
    fake.then("discord", (404, {"message": "Unknown Webhook"}, {}))
    r = run("alert", "--test", "--config", cfg, env=fake.env())
    assert r.returncode == 75
    assert r.stdout.decode().splitlines() == ["discord: not delivered (discord: HTTP 404)",
                                              "telegram: delivered"]
    assert len(fake.texts("telegram")) == 2
    out = r.stdout + r.stderr
    assert b"SECRET" not in out and TOKEN.encode() not in out
    r = run("alert", "--test", "--config", cfg, unset=("DISCORD_WEBHOOK_URL",
                                                       "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"))
    assert r.returncode == 2 and b"no alert channel configured" in r.stderr


def test_the_messages_carry_their_words():
    ev, text = messages.fill({"action": "open", "side": "long", "symbol": "ETH", "size": 0.33,
                              "price": 3001.2, "mode": "paper"}, "NORMAL")
    assert (ev, text) == ("OPEN", "OPEN long ETH 0.33 @ 3001.2 regime NORMAL [paper]")
    for reason, word in (("exchange_stop", "CLOSE STOP"), ("z_stop", "CLOSE STOP"),
                         ("capital_stop", "CLOSE STOP"), ("exit_z", "CLOSE long")):
        ev, text = messages.fill({"action": "close", "side": "long", "symbol": "ETH",
                                  "size": 0.33, "price": 2990.0, "reason": reason,
                                  "pnl": -3.456, "mode": "live"})
        assert ev == "CLOSE" and text.startswith(word) and "PnL -3.46" in text
    beat = messages.heartbeat("paper", "NORMAL", [], 10_000.0, "ok", {})
    assert beat.startswith("HEARTBEAT paper regime NORMAL; flat;")
    assert "long ETH" in messages.heartbeat("live", "CRISIS", [{"side": "long",
                                                               "symbol": "ETH"}], None, "stale",
                                            {"count": 2, "mean_bps": 1.0, "max_bps": 2.0})
    assert messages.failed("risk-gate", "exit 1: boom").startswith("FAILED risk-gate")
    assert messages.stale(75, 60).startswith("STALE")


@pytest.mark.slow
def test_the_loop_alerts_started_fills_heartbeat_stale_and_survives_sigkill(sim, tmp_path,
                                                                            fake):
    s = sim("--synthetic", "ETH", "--history-days", "2", "--speed", "20", "--seed", "5")
    cfg = loose_config(tmp_path, s.url, alerts={"telegram_api_url": fake.url,
                                                "heartbeat_minutes": 2.0,
                                                "stale_seconds": 8.0})
    assert run("backfill", "--config", cfg).returncode == 0
    env = fake.env()
    p = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        wait_for(lambda: any(t.startswith("HEARTBEAT") for t in fake.texts("telegram")),
                 timeout=60)
        wait_for(lambda: any(t.startswith("OPEN") for t in fake.texts("discord")), timeout=120)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    texts = fake.texts("discord")
    assert texts[0].startswith("STARTED perpbot paper") and "ETH" in texts[0]
    assert fake.texts("telegram")[:len(texts)] == texts[:len(fake.texts("telegram"))]
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        opens = st.conn.execute("SELECT cloid, price, size, side FROM trades WHERE "
                                "action = 'open' ORDER BY t").fetchall()
    cloid, price, size, side = opens[0]
    assert f"OPEN {side} ETH {size} @ {price}" in "\n".join(texts)
    # discord fails for a while: what is queued waits; a restart sends it, nothing twice
    fake.then("discord", *[(503, None, {})] * 3)
    p = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        wait_for(lambda: sum(t.startswith("STARTED") for t in fake.texts("discord")) == 2,
                 timeout=60)
        assert not any(t.startswith("STALE") for t in fake.texts("discord"))   # prices flow
        s.stop()                            # the exchange goes away: the feed goes stale
        wait_for(lambda: any(t.startswith("STALE") for t in fake.texts("discord")), timeout=30)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    sent = fake.texts("discord")
    fills = [t for t in sent if t.startswith(("OPEN", "CLOSE"))]
    assert len(fills) == len(set(fills))                 # no OPEN or CLOSE delivered twice
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        n_fills = st.conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
    # every fill announced, but one the SIGKILL may have caught mid-delivery (never resent)
    assert n_fills - 1 <= len(fills) <= n_fills


def test_a_failed_stage_is_a_failed_alert_naming_it():
    import threading
    from types import SimpleNamespace

    import orjson as oj

    from perpbot.loop.tick import TickProcs, TickRunner

    sent, logged = [], []
    log = SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None,
                          error=lambda m, **k: logged.append(m), log=lambda *a, **k: None)
    loop = SimpleNamespace(
        cfg=SimpleNamespace(strategy=SimpleNamespace(timeframe="1m")), log=log,
        stop=threading.Event(), alerts=SimpleNamespace(send=lambda ev, text, key=None:
                                                       sent.append((ev, text))),
        events=SimpleNamespace(forward=lambda *a, **k: None,
                               error=lambda m, **k: logged.append(m), tick_done=lambda: None),
        fill_said=lambda f: None)
    runner = TickRunner(loop)
    group = SimpleNamespace(stderr={"risk-gate": [oj.dumps({"level": "error",
                                                            "msg": "no lot size for ETH"})]})
    runner._done(TickProcs(60_000, group), {"fetch-candles": 0, "risk-gate": 1}, 0.0, 0.1)
    assert sent == [("FAILED", "FAILED risk-gate: exit 1: no lot size for ETH")]
    assert logged == ["tick failed; retrying at the next candle"]


def test_a_message_a_crash_left_mid_delivery_is_not_sent_again(tmp_path, fake):
    cfg = cfg_with(tmp_path, fake)
    alerts = Alerts(cfg)
    alerts.send("OPEN", "OPEN long ETH 1", key="fill:1")
    alerts.send("CLOSE", "CLOSE long ETH 1", key="fill:2")
    with Store.open(cfg.db_path) as st:
        first = st.next_alert("discord")[0]
        st.alert_sending(first)                 # then the process died, the POST maybe out
    log = Log()
    sender = Sender(cfg.db_path, alerts.channels[:1], 20, log)
    sender.start()
    try:
        wait_for(lambda: fake.texts("discord") == ["CLOSE long ETH 1"], timeout=10)
    finally:
        sender.close()
    assert log.lines[0][0].startswith("alerts interrupted mid-delivery by a crash")
    with Store.open_readonly(cfg.db_path) as st:
        assert [r[3] for r in st.alerts("discord")] == ["unknown", "sent"]
