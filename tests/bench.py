"""make bench: figures for the hot paths, measured in one run on this machine.

Foundation: store insert throughput for 1M candles (goal: under 3 s) and backfill throughput
against hl-sim (candles a second into SQLite; the simulator's weight budget is lifted so the
figure measures perpbot, not the exchange's rate limit, which is reported beside it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from perpbot.simproc import SimProcess, run_tool  # noqa: E402
from perpbot.store import Store  # noqa: E402
from perpbot.timeutil import parse_time  # noqa: E402


def bench_store_insert(n: int = 1_000_000) -> None:
    t0 = 1_600_000_000_000
    rows = [("ETH", "1m", t0 + i * 60_000, t0 + i * 60_000 + 59_999, 2000.0 + (i % 97) * 0.1,
             2001.0, 1999.0, 2000.5, 12.5, 40) for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        st = Store.open(Path(d) / "bench.db")
        t = time.perf_counter()
        new = st.insert_candles(rows)
        first = time.perf_counter() - t
        t = time.perf_counter()
        again = st.insert_candles(rows)
        second = time.perf_counter() - t
    assert new == n and again == 0
    print(f"store insert, {n:,} candles in one transaction: {first:.2f} s "
          f"({n / first:,.0f} rows/s; goal < 3 s)")
    print(f"store insert, the same {n:,} again (all present, none added): {second:.2f} s")


def bench_backfill(days: int = 60) -> None:
    start = parse_time("2026-06-01")
    with tempfile.TemporaryDirectory() as d, \
            SimProcess("--synthetic", "ETH", "--history-days", str(days + 1), "--start",
                       str(start), "--weight-per-min", "100000000") as sim:
        cfg = Path(d) / "config.yaml"
        cfg.write_text(yaml.safe_dump({
            "symbols": ["ETH"],
            "exchange": {"api_url": sim.url, "clock": "sim", "weight_per_min": 100_000_000},
            "data": {"db_path": "b.db", "timeframes": ["1m"], "history_days": days,
                     "funding": False},
            "strategy": {"timeframe": "1m"}}))
        t = time.perf_counter()
        r = run_tool("backfill", "--config", str(cfg), capture_output=True)
        wall = time.perf_counter() - t
        done = orjson.loads(r.stderr.splitlines()[-1])
    n = done["rows_new"]
    print(f"backfill from hl-sim, {n:,} 1m candles in {done['requests']} requests: "
          f"{done['seconds']:.2f} s in the loop, {wall:.2f} s with start-up "
          f"({n / done['seconds']:,.0f} candles/s into SQLite)")
    weight = done["weight"]
    print(f"  the same against Hyperliquid's 1200 weight/min budget ({weight} weight): "
          f"at least {max(0.0, (weight - 1200) / 1200 * 60):.0f} s of pacing")


if __name__ == "__main__":
    print("== foundation")
    bench_store_insert()
    bench_backfill()
