"""fetch-candles as a real subprocess against hl-sim: closed candles only, --update, --from-store,
exit codes, a closed stdout and signals."""

import signal
import subprocess
import sys
import time

import orjson
import pytest

from conftest import BIN, popen, run, write_config
from perpbot.store import Store
from perpbot.timeutil import parse_time

MIN = 60_000
T0 = parse_time("2026-01-01T00:00:30")          # half-way through the 00:00 candle


def records(r):
    assert r.returncode == 0, r.stderr.decode()
    return [orjson.loads(x) for x in r.stdout.splitlines()]


@pytest.fixture
def eth(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1", "--start", str(T0))
    return s, write_config(tmp_path, s.url, symbols=["ETH"], data={"history_days": 1.0})


def test_only_closed_candles_and_the_store_unless_no_store(eth, tmp_path):
    s, cfg = eth
    recs = records(run("fetch-candles", "ETH", "--tf", "1m", "--start", "2025-12-31T23:50",
                       "--config", cfg, "--no-store"))
    assert [r["t"] for r in recs] == [parse_time("2025-12-31T23:50") + i * MIN for i in range(10)]
    assert recs[-1]["T"] < T0                        # the 00:00 candle is still forming
    assert all(r["type"] == "candle" and r["tf"] == "1m" and r["symbol"] == "ETH" for r in recs)
    assert not (tmp_path / "perpbot.db").exists()

    recs5 = records(run("fetch-candles", "ETH", "--tf", "5m", "--start", "2025-12-31T23:00",
                        "--config", cfg))
    assert len(recs5) == 12 and recs5[-1]["t"] == parse_time("2025-12-31T23:55")
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        assert [r[2] for r in st.candles("ETH", "5m")] == [r["t"] for r in recs5]


def test_update_continues_from_the_last_stored_candle(sim, tmp_path):
    s = sim("--synthetic", "ETH", "--history-days", "1", "--start", str(T0), "--speed", "600")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], data={"history_days": 0.05})
    first = records(run("fetch-candles", "ETH", "--tf", "1m", "--update", "--config", cfg))
    assert len(first) >= 60                                       # 0.05 d = 72 minutes back
    time.sleep(0.5)                                               # 5 simulated minutes
    second = records(run("fetch-candles", "ETH", "--tf", "1m", "--update", "--config", cfg))
    assert second and second[0]["t"] == first[-1]["t"] + MIN
    window = records(run("fetch-candles", "ETH", "--tf", "1m", "--update", "--last", "30",
                         "--config", cfg))
    assert len(window) == 30
    assert [r["t"] for r in window] == list(range(window[0]["t"], window[-1]["t"] + 1, MIN))
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        stored = st.candles("ETH", "1m")
    assert stored[-1][2] == window[-1]["t"]
    assert len(stored) == len({r[2] for r in stored})


def test_from_store_needs_no_network_and_matches_what_was_fetched(eth, tmp_path):
    s, cfg = eth
    fetched = records(run("fetch-candles", "ETH", "--tf", "1m", "--start", "2025-12-31T22:00",
                          "--funding", "--config", cfg))
    s.stop()
    offline = write_config(tmp_path, None, symbols=["ETH"])      # points at nothing now
    replay = records(run("fetch-candles", "ETH", "--tf", "1m", "--from-store", "--funding",
                         "--config", offline))
    assert replay == fetched
    kinds = [r["type"] for r in replay]
    # 22:00, 23:00 and 00:00 (stamped 37 ms past the hour; the clock is at 00:00:30)
    assert kinds.count("funding") == 3 and kinds.count("candle") == 120
    # funding sits where it became known: after the candle that closed before it
    i = kinds.index("funding", 1)
    assert replay[i - 1]["T"] < replay[i]["t"] < replay[i + 1]["T"]
    assert kinds[-1] == "funding"
    last = records(run("fetch-candles", "ETH", "--tf", "1m", "--from-store", "--last", "3",
                       "--config", offline))
    assert last == [r for r in fetched if r["type"] == "candle"][-3:]


def test_unreachable_api_exits_75_with_one_line(tmp_path):
    cfg = write_config(tmp_path, None)
    r = run("fetch-candles", "BTC", "--tf", "1m", "--config", cfg)
    assert r.returncode == 75
    lines = r.stderr.decode().strip().splitlines()
    err = orjson.loads(lines[-1])
    assert err["level"] == "error"
    assert err["msg"] == ("POST http://127.0.0.1:9/info candleSnapshot: cannot connect "
                          "(connection refused); gave up after 3 tries")
    assert all(orjson.loads(x)["msg"] == "retrying" for x in lines[:-1])
    assert r.stdout == b"" and b"Traceback" not in r.stderr


def test_usage_errors_exit_2(tmp_path):
    cfg = write_config(tmp_path, None)
    assert run("fetch-candles", "ETH", "--tf", "7m", "--config", cfg).returncode == 2
    r = run("fetch-candles", "ETH", "--tf", "1m", "--start", "last week", "--config", cfg)
    assert r.returncode == 2 and b'"last week" is not a time' in r.stderr
    r = run("fetch-candles", "ETH", "--tf", "1m", "--from-store", "--update", "--config", cfg)
    assert r.returncode == 2 and b"--from-store replays the store" in r.stderr
    r = run("fetch-candles", "ETH", "--tf", "1m", "--from-store", "--config", cfg)
    assert r.returncode == 1 and b"no store here (run backfill first)" in r.stderr


def test_closed_stdout_ends_quietly(tmp_path):
    st = Store.open(tmp_path / "perpbot.db")
    st.insert_candles([("ETH", "1m", i * MIN, i * MIN + MIN - 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1)
                       for i in range(200_000)])
    st.close()
    cfg = write_config(tmp_path, None, symbols=["ETH"])
    p = subprocess.Popen(f"'{sys.executable}' '{BIN / 'fetch-candles'}' ETH --tf 1m --from-store "
                         f"--config '{cfg}' | head -n 2", shell=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    assert len(out.splitlines()) == 2
    assert err == b""
    # and the stage's own status, not the shell's head
    p = popen("fetch-candles", "ETH", "--tf", "1m", "--from-store", "--config", cfg,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=60) == 0
    assert p.stderr.read() == b""


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_waiting_for_input(sig, code):
    p = popen("validate-records", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    line = (b'{"type":"funding","v":1,"symbol":"ETH","t":1700000000000,"rate":0.0001,"premium":null}\n')
    p.stdin.write(line)
    p.stdin.flush()
    assert p.stdout.readline() == line            # it is live: the record came through
    p.send_signal(sig)
    assert p.wait(timeout=10) == code
    assert b"Traceback" not in p.stderr.read()
