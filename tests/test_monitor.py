"""The monitor: its formatters, its screen rendered headless against golden frames, its keys (no
order without its confirmation), and a source that survives a dead or garbage socket, a busy
store and a rotated log without ever writing to the store.

PERPBOT_UPDATE_FRAMES=1 rewrites the golden frames in tests/frames/ (read the diff)."""

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import run, write_config
from perpbot import config
from perpbot.monitor import fmt
from perpbot.monitor.source import Model, Source
from perpbot.monitor.view import TITLES, Screen, render_text
from perpbot.store import Store

FRAMES = Path(__file__).parent / "frames"
T = 1_795_000_000_000


def test_uptime_and_held_read_as_people_say_them():
    assert fmt.uptime(0) == "0m 00s"
    assert fmt.uptime(125) == "2m 05s"
    assert fmt.uptime(3660) == "1h 01m"
    assert fmt.uptime(90_000) == "1d 01h"
    assert fmt.uptime(None) == "-" and fmt.uptime(-1) == "-"
    assert fmt.held(61_000) == "1m 01s"


def test_bars_mark_the_threshold_and_colour_by_how_close_it_is():
    assert fmt.bar(0.0, 2.0, 3.0, 12) == "        │   "
    assert fmt.bar(1.5, 2.0, 3.0, 12) == "██████  │   "
    assert fmt.bar(-3.0, 2.0, 3.0, 12) == "█" * 12           # the side does not matter
    assert fmt.bar(0.125, 2.0, 1.0, 8) == "█      │"         # a threshold past the top
    assert fmt.bar(None, 2.0, 3.0, 5) == "·····"
    assert [fmt.heat(fmt.closeness(z, 2.0)) for z in (0.5, -1.6, 2.0, -2.4)] == \
        ["cold", "warm", "hot", "hot"]
    assert fmt.pnl_colour(-1.0) == "bad" and fmt.pnl_colour(0.001) == "text"
    assert fmt.pnl_colour(3.0) == "good"


def test_sparkline_and_numbers():
    assert fmt.spark([1, 2, 3], 3) == [" ▄█"]
    assert fmt.spark([0, 1], 4, height=2) == [" █  ", " █  "]
    assert fmt.spark([0, 1, 2, 3], 2, height=2) == [" █", " █"]         # the last two
    assert fmt.price(3012.456) == "3,012.5" and fmt.price(0.123456) == "0.12346"
    assert fmt.money(-1234.5, sign=True) == "-1,234.50" and fmt.pct(0.0123) == "+1.23%"


def test_log_lines_are_time_level_message():
    level, text = fmt.log_line({"ts": T, "level": "warning", "stage": "supervise",
                                "msg": "stop placed", "symbol": "ETH"}, "")
    assert level == "warning"
    assert text == "11:06:40 WARNING  stop placed  symbol=ETH"       # UTC
    assert fmt.log_line(None, "Traceback (most recent call last):\n") == \
        ("text", "Traceback (most recent call last):")


# the screen, headless -----------------------------------------------------------------------

def cfg_for(tmp_path, **extra):
    return config.load(write_config(tmp_path, None, symbols=["ETH", "BTC"], **extra),
                       environ={})


def a_model(online=True, paused=False, mode="paper") -> Model:
    state = {
        "ok": True, "mode": mode, "uptime_s": 3725.0, "clock": T, "equity": 10_123.45,
        "realized_equity": 10_100.0,
        "live": {"network": "testnet", "account": "0x14791697260e4c9a71f18484c9f997b308e59325",
                 "account_value": 10_123.45} if mode == "live" else None,
        "positions": [{"symbol": "ETH", "side": "long", "size": 1.5, "entry": 3000.0,
                       "entry_t": T - 125_000, "mid": 3015.0, "unrealized": 22.5}],
        "last_signals": [{"symbol": "ETH", "action": "NONE", "thresholds": {
            "long_entry_z": 2.0, "short_entry_z": 2.0}}],
        "risk": {"paused": paused, "halted": False, "cooldown_until": T + 90_000,
                 "realized_today": -12.5, "daily_loss_cap": 500.0, "max_positions": 1,
                 "slippage": {"count": 4, "mean_bps": 2.5, "max_bps": 6.0}},
        "regime": {"level": "HIGH_RISK"},
        "feed": {"connected": True, "age_s": 0.4, "mids": {"ETH": 3015.0, "BTC": 97000.0}},
        "exchange": "ok", "exchange_unreachable_since": None, "errors": []}
    return Model(
        mode=mode, online=online, offline_reason="" if online else "no loop answers",
        state=state, state_wall=time.time() if online else 0.0,
        positions=[{k: v for k, v in state["positions"][0].items()}],
        trades=[(T - 600_000, "ETH", "close", "short", 1.0, 3010.0, 1.2, 0.1, 18.25, "exit_z", 0.0002),
                (T - 900_000, "BTC", "close", "long", 0.01, 96000.0, 0.4, 0.0, -7.5,
                 "exchange_stop", 0.0004)],
        equity=[10_000.0, 10_020.0, 10_012.5, 10_030.75, 10_100.0],
        indicators={"ETH": {"t": T - 60_000, "close": 3015.0, "z": -1.62, "rsi": 41.0,
                            "adx": 18.0},
                    "BTC": {"t": T - 60_000, "close": 97000.0, "z": 0.3, "rsi": 52.0,
                            "adx": 31.0}},
        ledger={"paused": paused, "halted": False, "cooldown_until": None,
                "realized_today": -12.5, "equity": 10_100.0, "positions": 1},
        log=[("info", "19:06:30 INFO     tick  close=1794999960000 fills=0"),
             ("warning", "19:06:35 WARNING  slippage above execution.warn_slippage_bps"),
             ("error", "19:06:38 ERROR    tick failed for now; retrying")])


def frame(tmp_path, model, cols, rows, **extra):
    screen = Screen(cfg_for(tmp_path, **extra))
    screen.update(model)
    return render_text(screen, cols, rows)


def check_frame(name: str, text: str) -> None:
    path = FRAMES / name
    if os.environ.get("PERPBOT_UPDATE_FRAMES"):
        FRAMES.mkdir(exist_ok=True)
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text()


@pytest.mark.parametrize("cols, rows", [(120, 40), (100, 30)])
def test_every_pane_shows_with_its_title(tmp_path, cols, rows):
    text = frame(tmp_path, a_model(), cols, rows)
    check_frame(f"monitor_{cols}x{rows}.txt", text)
    assert all(f" {t} " in text for t in TITLES)
    assert "\x1b" not in text and len(text.splitlines()) == rows
    head = " ".join(text.splitlines()[:2])           # the header wraps on a narrow terminal
    assert " PAPER " in head and "OFFLINE" not in head and "PAUSED" not in head
    assert "up 1h 02m" in head and "HIGH_RISK" in head and "ETH 3,015.0" in head


def test_small_terminals_keep_the_mode_and_a_title(tmp_path):
    text = frame(tmp_path, a_model(online=False, paused=True, mode="live"), 80, 24)
    check_frame("monitor_80x24_offline_live.txt", text)
    head = text.splitlines()[0]
    assert " LIVE " in head and " OFFLINE " in head and " PAUSED " in head
    assert any(f" {t} " in text for t in TITLES)
    assert len(text.splitlines()) == 24


def test_live_header_names_the_network_and_account(tmp_path):
    head = frame(tmp_path, a_model(mode="live"), 160, 40).splitlines()[0]
    assert " LIVE " in head and "testnet 0x1479…9325" in head and " PAPER " not in head


class FakeSource:
    def __init__(self):
        self.sent = []

    def command(self, cmd, **extra):
        self.sent.append(cmd)


def test_no_order_without_y_in_the_dialog(tmp_path):
    src = FakeSource()
    screen = Screen(cfg_for(tmp_path), src)
    screen.update(a_model())
    for k in ("e", "x"):                      # a stray key cancels
        assert screen.key(k)
    for k in ("e", "esc"):
        assert screen.key(k)
    assert src.sent == []
    screen.key("e")
    shown = render_text(screen, 120, 40)
    assert "EMERGENCY CLOSE" in shown and "long 1.5 ETH @ 3,000.0" in shown
    screen.key("y")
    assert src.sent == ["emergency_close"]
    screen.key("y")                           # no dialog now: nothing more is sent
    screen.key("p")
    screen.key("r")
    assert src.sent == ["emergency_close", "pause", "resume"]
    screen.key("?")
    assert "Keys" in render_text(screen, 120, 40)
    screen.key("p")                           # closes the help; sends nothing
    assert src.sent[-1] == "resume"
    assert screen.key("q") is False


# the source: never blocked, never writing --------------------------------------------------

def garbage_server(path: Path, answer: bytes):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(4)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                c.recv(4096)
                c.sendall(answer)
    threading.Thread(target=serve, daemon=True).start()
    return srv


@pytest.mark.parametrize("answer", [b"garbage\n", b"[1, 2]\n", b'{"ok": true}\n', b""])
def test_a_socket_that_answers_garbage_is_offline_not_a_crash(tmp_path, answer):
    cfg = cfg_for(tmp_path)
    Store.open(cfg.db_path).close()
    srv = garbage_server(tmp_path / "perp-bot.sock", answer)
    try:
        src = Source(cfg)
        src.poll(slow=True)
        m = src.snapshot()
        assert not m.online and m.offline_reason
        screen = Screen(cfg)
        screen.update(m)
        assert " OFFLINE " in render_text(screen, 120, 40).splitlines()[0]
    finally:
        srv.close()


def test_a_busy_store_keeps_the_last_data_and_nothing_is_written(tmp_path):
    cfg = cfg_for(tmp_path)
    with Store.open(cfg.db_path) as st:
        st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, fee, "
                        "mode, action, reason, pnl) VALUES ('a', 'c1', 'ETH', 1, 'long', 1, 100, "
                        "0.1, 'paper', 'close', 'exit_z', 5.0)")
        st.conn.commit()
    before = {p.name: p.read_bytes() for p in tmp_path.glob("perpbot.db*")}
    src = Source(cfg)
    src.poll(slow=True)
    assert [t[8] for t in src.snapshot().trades] == [5.0]
    locker = sqlite3.connect(cfg.db_path)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        src.poll(slow=True)
        m = src.snapshot()
        assert [t[8] for t in m.trades] == [5.0]          # the last data stands
    finally:
        locker.rollback()
        locker.close()
    assert {p.name: p.read_bytes() for p in tmp_path.glob("perpbot.db")} == \
        {k: v for k, v in before.items() if k == "perpbot.db"}


def test_a_rotated_or_truncated_log_is_read_again(tmp_path):
    cfg = cfg_for(tmp_path)
    log = tmp_path / "perp-bot.log"
    log.write_text('{"ts": 1, "level": "info", "msg": "first"}\n' * 5)
    src = Source(cfg)
    src.poll(slow=False)
    assert src.snapshot().log[-1][1].endswith("first")
    log.rename(tmp_path / "perp-bot.log.1")            # rotated
    log.write_text('{"ts": 1, "level": "error", "msg": "second"}\nnot json at all\n')
    src.poll(slow=False)
    assert [x[1].split()[-1] for x in src.snapshot().log] == ["second", "all"]
    log.write_text("")                                 # truncated
    src.poll(slow=False)
    assert src.snapshot().log == []


def test_snapshot_without_a_loop_prints_one_offline_frame(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["ETH"])
    with Store.open(tmp_path / "perpbot.db"):
        pass
    r = run("monitor", "--config", cfg, "--snapshot", "--size", "100x30")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert len(text.splitlines()) == 30 and "\x1b" not in text
    assert " OFFLINE " in text.splitlines()[0] and " PAPER " in text.splitlines()[0]
    assert all(f" {t} " in text for t in TITLES)
    r = run("monitor", "--config", cfg, "--snapshot", "--size", "big")
    assert r.returncode == 2 and b"COLSxROWS" in r.stderr
