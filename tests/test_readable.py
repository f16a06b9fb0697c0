"""Output people read: the loop's human lines on a terminal (JSON in its log file), and a
repeated condition said when it starts and when it ends, not every tick."""

import io

import orjson

from perpbot.logs import DaemonLog
from perpbot.loop.events import Events


def test_a_terminal_gets_human_lines_and_the_file_json(tmp_path):
    out = io.StringIO()
    log = DaemonLog("supervise", tmp_path / "perp-bot.log", stream=out, human=True)
    log.info("OPEN long ETH 0.33 @ 3001.2 (maker, slip 0.4 bps)", cloid="0xab")
    log.warning("price feed stale", age_s=75.0)
    log.close()
    lines = out.getvalue().splitlines()
    assert lines[0][8:] == " OPEN long ETH 0.33 @ 3001.2 (maker, slip 0.4 bps)  (cloid=0xab)"
    assert lines[1][8:] == " WARNING price feed stale  (age_s=75.0)"
    recs = [orjson.loads(x) for x in (tmp_path / "perp-bot.log").read_bytes().splitlines()]
    assert [r["msg"] for r in recs] == ["OPEN long ETH 0.33 @ 3001.2 (maker, slip 0.4 bps)",
                                        "price feed stale"]
    piped = io.StringIO()
    log = DaemonLog("supervise", tmp_path / "p2.log", stream=piped, human=False)
    log.info("tick", close=1)
    assert orjson.loads(piped.getvalue())["msg"] == "tick"


class Rec:
    def __init__(self):
        self.lines = []

    def log(self, level, msg, **f):
        self.lines.append((level, msg))

    def info(self, msg, **f):
        self.log("info", msg, **f)

    def error(self, msg, **f):
        self.log("error", msg, **f)


def test_a_condition_is_said_when_it_starts_and_when_it_ends():
    rec = Rec()
    ev = Events(rec)
    line = orjson.dumps({"level": "info", "msg": "no regime snapshots",
                         "condition": "no_regime_snapshots"})
    for _ in range(3):
        ev.forward("emit-signals", [line])
        ev.tick_done()
    ev.tick_done()                          # a tick without it: over
    ev.forward("emit-signals", [orjson.dumps({"level": "info", "msg": "other"})])
    ev.forward("emit-signals", [orjson.dumps({"level": "info", "msg": "other"})])
    assert rec.lines == [("info", "no regime snapshots"), ("debug", "no regime snapshots"),
                         ("debug", "no regime snapshots"), ("info", "over: no regime snapshots"),
                         ("info", "other"), ("info", "other")]


def test_times_relative_to_now():
    from perpbot.timeutil import parse_time
    now = 1_795_000_000_000                 # 2026-11-18T11:06:40Z
    day = now - now % 86_400_000
    assert parse_time("7d", now) == now - 7 * 86_400_000
    assert parse_time("12h", now) == now - 12 * 3_600_000
    assert parse_time("30m", now) == now - 1_800_000
    assert parse_time("yesterday", now) == day - 86_400_000
    assert parse_time("today", now) == day and parse_time("now", now) == now
    assert parse_time("2026-11-01", now) == 1_793_491_200_000
    import pytest
    with pytest.raises(ValueError, match="relative"):
        parse_time("last tuesday", now)


def test_a_start_after_its_end_is_one_clear_line(tmp_path):
    from conftest import run, write_config
    cfg = write_config(tmp_path, None)
    r = run("backtest", "--config", cfg, "--symbol", "ETH", "--start", "2026-11-02",
            "--end", "2026-11-01")
    assert r.returncode == 2
    (line,) = r.stderr.splitlines()
    assert orjson.loads(line)["msg"] == \
        "--start 2026-11-02T00:00:00Z is after --end 2026-11-01T00:00:00Z"
    assert not (tmp_path / "perpbot.db").exists()       # nothing made on the way out


def test_reading_tools_never_make_an_empty_store_and_need_no_exchange(tmp_path):
    from conftest import run
    cfg = tmp_path / "config.yaml"
    cfg.write_text("symbols: [ETH]\ndata: {db_path: perpbot.db}\n")      # no exchange at all
    for tool, args in (("backtest", ["--symbol", "ETH"]), ("report", ["weekly"]),
                       ("sweep", ["--symbol", "ETH", "--range", "signals.entry_z=1.5,2"]),
                       ("walk-forward", ["--symbol", "ETH"])):
        r = run(tool, "--config", cfg, *args)
        assert r.returncode != 0 and b"no store here (run backfill first)" in r.stderr, \
            (tool, r.stderr)
        assert not (tmp_path / "perpbot.db").exists(), tool


def run_on_a_terminal(name, *args, cwd=None):
    """bin/NAME with a pseudo-terminal for stdout: what a person sees (escapes stripped)."""
    import re

    from conftest import run_on_a_pty
    code, out = run_on_a_pty(name, *args, cwd=cwd, env={"COLUMNS": "140"})
    return code, re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.decode())


def make_store(tmp_path):
    """A config and a store of 3,000 one-minute ETH candles of a seeded random walk."""
    import random

    from perpbot.store import Store
    cfg = tmp_path / "config.yaml"
    cfg.write_text("symbols: [ETH]\ndata: {db_path: perpbot.db, timeframes: [1m]}\n"
                   "strategy: {timeframe: 1m}\nsignals: {entry_z: 1.0}\n")
    rng, px, rows = random.Random(1), 3000.0, []
    for k in range(3000):
        t = 1_790_000_000_000 + k * 60_000
        nxt = px * (1 + rng.gauss(0, 0.002))
        rows.append(("ETH", "1m", t, t + 59_999, px, max(px, nxt) * 1.0005,
                     min(px, nxt) * 0.9995, nxt, 10.0, 5))
        px = nxt
    with Store.open(tmp_path / "perpbot.db") as st:
        st.insert_candles(rows)
        st.set_exchange_meta({"ETH": 4}, 0)
    return cfg


def test_tools_print_tables_on_a_terminal_and_json_in_a_pipe(tmp_path):
    from conftest import run
    cfg = make_store(tmp_path)
    code, text = run_on_a_terminal("backtest", "--config", cfg, "--symbol", "ETH")
    assert code == 0 and "backtest ETH" in text and "total_pnl" in text
    assert not text.lstrip().startswith("{")
    r = run("backtest", "--config", cfg, "--symbol", "ETH")
    assert r.returncode == 0 and orjson.loads(r.stdout)["metrics"]["trades"] >= 0
    code, text = run_on_a_terminal("sweep", "--config", cfg, "--symbol", "ETH", "--range",
                                   "signals.entry_z=1.0,1.5", "--jobs", "1")
    assert code == 0 and "2 combinations, best total PnL first" in text
    # both values sit at or below bb_k (2): a signal needs the close outside the bands too
    assert "NO_EFFECT" in text and "indicators.bb_k = 2" in text
    r = run("sweep", "--config", cfg, "--symbol", "ETH", "--range", "signals.entry_z=1.0,1.5",
            "--jobs", "1")
    assert len(r.stdout.splitlines()) == 2 and b"signals.entry_z" in r.stdout.splitlines()[0]


def test_a_port_in_use_is_one_line_naming_it():
    import socket

    from conftest import run
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        r = run("hl-sim", "--synthetic", "ETH", "--history-days", "0.1", "--port", port)
    finally:
        s.close()
    assert r.returncode == 2
    (line,) = r.stderr.splitlines()
    assert orjson.loads(line)["msg"] == (f"--port {port}: 127.0.0.1:{port} is already in use; "
                                         f"choose another, or --port 0 for a free one")
