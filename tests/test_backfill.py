"""backfill against hl-sim on real market files: every value stored as in the file, paging past
the per-response caps, and nothing added by a second run."""

import json

import numpy as np
import orjson

from conftest import run, shared_file, write_config
from perpbot.sim import market as mk
from perpbot.store import Store
from perpbot.timeutil import parse_time


def summary(result):
    assert result.returncode == 0, result.stderr.decode()
    lines = [orjson.loads(x) for x in result.stderr.splitlines()]
    assert lines[-1]["msg"] == "backfill done"
    return lines[-1], lines


def test_backfill_stores_every_candle_as_in_the_file(tmp_path, sim):
    path = shared_file("markets/UNITTEST_BTC-1m.json")
    s = sim("--market", f"{path}:BTC")
    cfg = write_config(tmp_path, s.url, data={"funding": False})
    first, lines = summary(run("backfill", "--config", cfg))
    assert first["rows_new"] == first["rows_fetched"] == 13_681
    pages = [x for x in lines if x["msg"] == "progress" and not x["done"]]
    assert [p["fetched"] for p in pages] == [5000, 10000, 13681]       # paged past the 5000 cap

    want = json.loads(path.read_text())
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        got = st.candles("BTC", "1m")
    assert len(got) == len(want) == 13_681
    for row, c in zip(got, want):
        assert row == ("BTC", "1m", c["t"], c["T"], float(c["o"]), float(c["h"]),
                       float(c["l"]), float(c["c"]), float(c["v"]), c["n"])

    again, _ = summary(run("backfill", "--config", cfg))
    assert again["rows_new"] == 0 and again["rows_fetched"] == 0


def test_backfill_funding_as_in_the_file(tmp_path, sim):
    candles = shared_file("markets/XRP_USDT_USDT-5m-futures.json")
    funding = shared_file("markets/XRP_USDT_USDT-8h-funding.json")
    want = json.loads(funding.read_text())
    first_t = json.loads(candles.read_text())[0]["t"]
    s = sim("--market", f"{candles}:XRP", "--funding", f"{funding}:XRP")
    cfg = write_config(tmp_path, s.url, symbols=["XRP"], data={"timeframes": ["5m", "15m"]},
                       strategy={"timeframe": "5m"})
    # the funding file starts before the candles: reach back far enough for both
    start = min(first_t, want[0]["time"])
    first, _ = summary(run("backfill", "--config", cfg, "--start", start))
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        rows = st.funding("XRP")
        n5, n15 = st.count_candles("XRP", "5m"), st.count_candles("XRP", "15m")
    assert rows == [("XRP", f["time"], float(f["fundingRate"]), float(f["premium"]))
                    for f in want]
    assert n5 == 1999 and 0 < n15 < n5
    again, _ = summary(run("backfill", "--config", cfg))
    assert again["rows_new"] == 0


def test_backfill_funding_pages_past_500(tmp_path, sim):
    start = parse_time("2026-03-01")
    s = sim("--synthetic", "ETH", "--seed", "11", "--history-days", "45", "--start", str(start))
    cfg = write_config(tmp_path, s.url, symbols=["ETH"],
                       data={"timeframes": ["1h"], "history_days": 45.0},
                       strategy={"timeframe": "1h"})
    first, lines = summary(run("backfill", "--config", cfg))
    pages = [x["fetched"] for x in lines if x["msg"] == "progress" and x["series"] == "funding"
             and not x["done"]]
    assert pages == [500, 1000, 45 * 24]                      # at most 500 a response
    m = mk.SyntheticMarket("ETH", 11, start - 45 * 86_400_000)
    m.ensure(start + 60_000)
    f = m.funding()
    keep = f.t <= start + 60_000          # the sim's clock ran a few seconds past its start
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        rows = st.funding("ETH")
        candles = st.candles("ETH", "1h")
    assert [r[1] for r in rows] == f.t[keep].tolist()
    assert np.array_equal([r[2] for r in rows], f.rate[keep])
    assert all(c[3] < start for c in candles)                # only candles closed at the start
    assert len(candles) == 45 * 24 - 1      # t >= now - 45 d, the first hour is just short
    again, _ = summary(run("backfill", "--config", cfg))
    assert again["rows_new"] == 0


def test_progress_is_a_bar_on_a_terminal(tmp_path, sim):
    """On a terminal stderr gets a progress bar, not JSON lines; the summary comes last."""
    from conftest import run_on_a_pty
    s = sim("--synthetic", "ETH", "--history-days", "3")
    cfg = write_config(tmp_path, s.url, symbols=["ETH"], data={"timeframes": ["1m", "5m"],
                                                               "history_days": 2.0})
    code, out = run_on_a_pty("backfill", "--config", cfg, stream="stderr")
    assert code == 0
    text = out.decode(errors="replace")
    assert "backfill" in text and "%" in text and "ETH funding" in text
    assert "rows_fetched=" in text.splitlines()[-1]        # the summary, in plain words
    assert '{"ts"' not in text
