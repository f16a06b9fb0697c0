"""make demo: hl-sim with a synthetic market, a backfill into a fresh store, a summary, and the
prediction-market regime changing as the simulator's clock runs through its demo scenario.

Needs no files and no network. Later issues extend it to the whole trade loop.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import orjson
import requests
import yaml

from .simproc import SimProcess, run_tool
from .store import Store
from .timeutil import iso


SPEED = 600       # simulated seconds a second: the regime scenario plays out in 15 s


def wait_until(url: str, t: int) -> None:
    """Sleep until hl-sim's clock reaches t (ms)."""
    while (now := requests.get(url + "/sim/time", timeout=5).json()["time"]) < t:
        time.sleep(min(1.0, (t - now) / 1000 / SPEED + 0.05))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default="demo")
    ap.add_argument("--days", type=float, default=7.0)
    args = ap.parse_args()
    out = Path(args.dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with SimProcess("--synthetic", "ETH", "--synthetic", "BTC", "--seed", "42",
                    "--history-days", str(args.days + 1), "--speed", str(SPEED)) as sim:
        start = requests.get(sim.url + "/sim/time", timeout=5).json()["time"]
        print(f"hl-sim: synthetic ETH and BTC at {sim.url}, clock at {SPEED}x")
        cfg = out / "config.yaml"
        cfg.write_text(yaml.safe_dump({
            "symbols": ["ETH", "BTC"],
            "exchange": {"api_url": sim.url, "clock": "sim"},
            "data": {"db_path": "perpbot.db", "timeframes": ["1m", "5m", "15m", "1h"],
                     "history_days": args.days},
            "strategy": {"timeframe": "15m"},
            "regime": {"polymarket_url": sim.url + "/gamma", "kalshi_url": sim.url + "/kalshi",
                       "markets": [{"source": "polymarket", "id": "demo-war-risk",
                                    "category": "war_risk"},
                                   {"source": "kalshi", "id": "DEMO-FED-CUT",
                                    "category": "rate_change"}]}}))
        print(f"backfill: {args.days:g} days of 1m, 5m, 15m and 1h candles and funding, paced to "
              f"the exchange's request-weight budget ...")
        r = run_tool("backfill", "--config", str(cfg), "--quiet")
        if r.returncode:
            raise SystemExit(f"backfill failed with exit {r.returncode}")
        run_tool("backfill", "--config", str(cfg), "--quiet")     # idempotent: adds nothing
        print("\nregime, polled as the simulated clock passes the demo scenario's changes:")
        for minute in (5, 35, 65, 95, 105, 145):
            wait_until(sim.url, start + minute * 60_000)
            r = run_tool("poll-regime", "--config", str(cfg), "--quiet", capture_output=True)
            rec = orjson.loads(r.stdout)
            print(f"  {iso(rec['t'])}  {rec['level']:<9} war_risk={rec['war_risk']:.2f} "
                  f"rate_change={rec['rate_change']:+.2f}  ({rec['reason']})")
    with Store.open_readonly(out / "perpbot.db") as st:
        print(f"\nstore: {out / 'perpbot.db'}")
        print(f"{'symbol':<7}{'tf':<5}{'candles':>9}  {'first':<21}{'last':<21}{'close':>10}")
        for sym in ("ETH", "BTC"):
            for tf in ("1m", "5m", "15m", "1h"):
                rows = st.candles(sym, tf)
                print(f"{sym:<7}{tf:<5}{len(rows):>9}  {iso(rows[0][2]):<21}"
                      f"{iso(rows[-1][2]):<21}{rows[-1][7]:>10.2f}")
            f = st.funding(sym)
            mean = sum(r[2] for r in f) / len(f)
            print(f"{sym:<7}funding {len(f)} hourly rates, mean {mean * 100:.5f}% an hour")
    print(f"\nreplay: .venv/bin/fetch-candles ETH --tf 15m --from-store --last 3 --config {cfg}")


if __name__ == "__main__":
    main()
