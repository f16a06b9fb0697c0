"""make demo: hl-sim with a synthetic market, a backfill into a fresh store, then the paper trade
loop for about a minute, printing status and trades as they happen while the simulated clock
runs at 600x through hl-sim's prediction-market scenario (the regime climbs to CRISIS, falls
back, turns DOVISH).

Needs no files and no network. The strategy runs on 15-minute candles with looser thresholds
than the defaults, so that a minute of demo shows trades.

--live (make demo-live) runs the loop live instead: a throwaway key made for the run signs every
order, hl-sim verifies each signature and trades the account it registered for that key (post-
only entries, stops resting on its book, reduce-only exits), and the ledger is the exchange's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .ipc import NoDaemon, request, socket_path
from .simproc import BIN, SimProcess, run_tool
from .store import Store
from .timeutil import iso

SPEED = 600       # simulated seconds a second: a 15-minute candle every 1.5 s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default="demo")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the loop runs")
    ap.add_argument("--live", action="store_true", help="trade live on hl-sim (signed orders)")
    args = ap.parse_args()
    mode = "live" if args.live else "paper"
    env, live_args, live_cfg = dict(os.environ), [], {}
    if args.live:
        from eth_account import Account
        wallet = Account.create()           # a throwaway key: hl-sim knows only this run's
        env["HL_PRIVATE_KEY"] = wallet.key.hex()
        live_args = ["--account", f"{wallet.address}=10000", "--weight-per-min", "100000"]
        live_cfg = {"execution": {"entry_timeout_s": 4.0}}
    out = Path(args.dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with SimProcess("--synthetic", "ETH", "--seed", "42", "--history-days", str(args.days + 1),
                    "--speed", str(SPEED), *live_args) as sim:
        print(f"hl-sim: synthetic ETH at {sim.url}, clock at {SPEED}x")
        cfg = out / "config.yaml"
        cfg.write_text(yaml.safe_dump({
            "symbols": ["ETH"],
            "exchange": {"api_url": sim.url, "clock": "sim",
                         **({"network": "testnet"} if args.live else {})},
            **live_cfg,
            "data": {"db_path": "perpbot.db", "timeframes": ["1m", "15m", "1h"],
                     "history_days": args.days},
            "strategy": {"timeframe": "15m"},
            "indicators": {"bb_k": 1.5},
            "signals": {"entry_z": 1.5, "rsi_overbought": 60.0, "rsi_oversold": 40.0,
                        "adx_max": 40.0},
            "regime": {"polymarket_url": sim.url + "/gamma", "kalshi_url": sim.url + "/kalshi",
                       "markets": [{"source": "polymarket", "id": "demo-war-risk",
                                    "category": "war_risk"},
                                   {"source": "kalshi", "id": "DEMO-FED-CUT",
                                    "category": "rate_change"}]}}))
        print(f"backfill: {args.days:g} days of 1m, 15m and 1h candles and funding ...")
        r = run_tool("backfill", "--config", str(cfg), "--quiet")
        if r.returncode:
            raise SystemExit(f"backfill failed with exit {r.returncode}")
        with Store.open_readonly(out / "perpbot.db") as st:
            for tf in ("1m", "15m", "1h"):
                rows = st.candles("ETH", tf)
                print(f"  ETH {tf:<4}{len(rows):>7} candles  {iso(rows[0].t)} .. {iso(rows[-1].t)}")
            print(f"  ETH funding {len(st.funding('ETH'))} hourly rates")
        print(f"\ntrade loop ({mode}) for {args.seconds:g} s; its log is {out / 'perp-bot.log'}")
        loop = subprocess.Popen([sys.executable, str(BIN / "supervise"), "--config", str(cfg),
                                 "--mode", mode], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        try:
            watch(out, args.seconds, mode)
        finally:
            loop.send_signal(signal.SIGTERM)
            loop.wait(timeout=60)
    with Store.open_readonly(out / "perpbot.db") as st:
        closes = st.closed_pnl(mode)
        last = max((t for t, *_ in st.trades((mode,))), default=None)
        print(f"\n{len(closes)} round trips, realized PnL {sum(p for _, p in closes):+.2f} USDC "
              f"(fees, slippage and funding included)")
    print("\nthe store stays; try (the loop has stopped, these read what it left):")
    print(f"  .venv/bin/monitor --snapshot --config {cfg}      # the monitor's frame, offline")
    if last is not None:                # the demo's clock runs ahead: name the week it traded
        y, w, _ = dt.datetime.fromtimestamp(last / 1000, tz=dt.timezone.utc).isocalendar()
        print(f"  .venv/bin/report weekly --week {y}-W{w:02d} --mode {mode} --config {cfg}")
    print(f"  .venv/bin/backtest --symbol ETH --tf 15m --config {cfg}")


def watch(out: Path, seconds: float, mode: str) -> None:
    sock = socket_path(out / "perpbot.db")
    shown = 0
    end = time.time() + seconds
    next_status = 0.0
    while time.time() < end:
        time.sleep(0.5)
        try:
            st = request(sock, {"cmd": "get_state"})
        except (NoDaemon, OSError):
            continue
        with Store.open_readonly(out / "perpbot.db") as db:
            trades = db.trades((mode,))
        for t, _, action, side, size, price, fee, _, pnl, reason, _ in trades[shown:]:
            extra = f"  pnl {pnl:+.2f}" if pnl is not None else ""
            print(f"  TRADE {iso(t)} {action:<5} {side:<5} {size:g} ETH @ {price:.2f} "
                  f"fee {fee:.2f} ({reason}){extra}")
        shown = len(trades)
        if time.time() >= next_status:
            next_status = time.time() + 5
            lt = st.get("last_tick") or {}
            pos = ", ".join(f"{p['side']} {p['size']:g} @ {p['entry']:.2f}" for p in st["positions"])
            sig = st["last_signals"][-1] if st["last_signals"] else {}
            print(f"  status {st['clock_iso']}  regime {st['regime']['level']:<9} equity "
                  f"{st['equity']:.2f}  position {pos or 'flat'}  last signal "
                  f"{sig.get('action', '-')}  tick latency {lt.get('latency_s', 0):.2f} s")


if __name__ == "__main__":
    main()
