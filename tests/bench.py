"""make bench: figures for the hot paths, measured in one run on this machine.

Foundation: store insert throughput for 1M candles (goal: under 3 s) and backfill throughput
against hl-sim (candles a second into SQLite; the simulator's weight budget is lifted so the
figure measures perpbot, not the exchange's rate limit, which is reported beside it).

Indicators: `compute` on 1M candles against TA-Lib's RSI + ADX + BBANDS on the same arrays
(goal: within 2x, Hurst excluded), rolling Hurst on 1M candles (goal: under 2 s), and
compute-indicators on 1M NDJSON candle lines against a bare orjson loads+dumps loop over the
same lines (goal: at least 40% of that floor). Timings are the best of several runs, the two
sides of a comparison interleaved so that both see the same machine.

Backtest: one symbol, 1M one-minute candles, indicators included (goal: under 2 s); and a
sweep of 100 combinations over 100k candles on all cores (goal: under 60 s).

Trade loop: the latency of each tick from the candle's close to its fills recorded (the five
stages as separate processes), median and worst over a paper run of 30 candles against hl-sim
(goal: median under 300 ms); and each tick stage's start-up (interpreter and imports, to its
--help), best of five, with the imports `python -X importtime` counts.

Live: signing one action, a signed IOC's round trip to hl-sim, and the live loop's tick latency
(reconciliation with the exchange before every tick included).

`python tests/bench.py SECTION...` runs only those sections (foundation, indicators, backtest,
loop, live, monitor). Monitor: its CPU while idle, in tmux against a running loop (goal < 5%
of one core).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from perpbot import indicators as ind  # noqa: E402
from perpbot.params import IndicatorParams  # noqa: E402
from perpbot.simproc import BIN, SimProcess, run_tool  # noqa: E402
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


def random_candles(n: int, seed: int = 0):
    """A 1-minute random walk around 3000 with consistent highs and lows (rounded to cents)."""
    rng = np.random.default_rng(seed)
    c = np.round(3000 * np.exp(np.cumsum(rng.normal(0, 0.001, n))), 2)
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(np.round(np.maximum(o, c) * (1 + np.abs(rng.normal(0, 5e-4, n))), 2),
                   np.maximum(o, c))
    l = np.minimum(np.round(np.minimum(o, c) * (1 - np.abs(rng.normal(0, 5e-4, n))), 2),
                   np.minimum(o, c))
    return o, h, l, c


def best_of(fns: dict, rounds: int) -> dict:
    """Best time of each function over `rounds`, the functions interleaved round by round."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def bench_indicators(n: int = 1_000_000) -> None:
    try:
        import talib
    except ImportError:
        print("indicators vs TA-Lib: skipped, TA-Lib (a test extra) is not installed")
        talib = None
    o, h, l, c = random_candles(n)
    p = IndicatorParams()
    fns = {"ours": lambda: (ind.bands(c, p), ind.rsi(c, p.rsi_period),
                            ind.adx(h, l, c, p.adx_period))}
    if talib:
        fns["talib"] = lambda: (talib.RSI(c, 14), talib.ADX(h, l, c, 14),
                                talib.BBANDS(c, 20, 2.0, 2.0, 0))
    t = best_of(fns, 15)
    line = f"compute on {n:,} candles (z, Bollinger, RSI, ADX; Hurst apart): {t['ours'] * 1000:.1f} ms"
    if talib:
        line += (f"; TA-Lib RSI+ADX+BBANDS {t['talib'] * 1000:.1f} ms: "
                 f"{t['ours'] / t['talib']:.2f}x (goal <= 2x)")
    print(line)
    th = best_of({"hurst": lambda: ind.hurst(c, p.hurst_window)}, 5)["hurst"]
    print(f"rolling Hurst (window {p.hurst_window}) on {n:,} candles: {th * 1000:.0f} ms (goal < 2 s)")


def bench_compute_indicators_stage(n: int = 1_000_000) -> None:
    o, h, l, c = (a.tolist() for a in random_candles(n, seed=1))
    t0 = 1_600_000_000_000
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "candles.ndjson"
        with open(path, "wb") as f:
            for i in range(n):
                f.write(orjson.dumps({"type": "candle", "v": 1, "symbol": "ETH", "tf": "1m",
                                      "t": t0 + i * 60_000, "T": t0 + i * 60_000 + 59_999,
                                      "o": o[i], "h": h[i], "l": l[i], "c": c[i],
                                      "volume": 12.5, "n": 40}) + b"\n")
        lines = path.read_bytes().splitlines()

        def floor():
            gc.disable()
            for x in lines:
                orjson.dumps(orjson.loads(x))
            gc.enable()

        def stage():
            subprocess.run([sys.executable, str(BIN / "compute-indicators"), str(path)],
                           stdout=subprocess.DEVNULL, check=True)

        t = best_of({"floor": floor, "stage": stage}, 3)
    print(f"compute-indicators, {n:,} NDJSON candle lines file to /dev/null: {t['stage']:.2f} s "
          f"({n / t['stage']:,.0f} lines/s, process start-up included); bare orjson "
          f"loads+dumps loop {t['floor']:.2f} s ({n / t['floor']:,.0f} lines/s): "
          f"{t['floor'] / t['stage']:.0%} of the floor (goal >= 40%)")


def _noop(*_):
    return None


def bench_backtest(n: int = 1_000_000) -> None:
    from perpbot.backtest import engine, sweep
    from perpbot.config import from_dict
    from perpbot.params import RegimeConfig
    from perpbot.parallel import cores
    from perpbot.regime import RegimeBook

    o, h, l, c = random_candles(n, seed=3)
    cd = {"t": 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 60_000, "o": o, "h": h, "l": l,
          "c": c}
    book = RegimeBook([], RegimeConfig())
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        res = engine.run("ETH", "1m", cd, [], book, engine.Setup(), 4)
        best = min(best, time.perf_counter() - t)
    print(f"backtest, one symbol, {n:,} 1m candles, indicators included: {best:.2f} s, "
          f"{len(res.trips)} round trips (goal < 0.6 s)")
    m = 100_000
    small = {k: v[:m] for k, v in cd.items()}
    cfg = from_dict({"exchange": {"api_url": "http://127.0.0.1:9"},
                     "strategy": {"timeframe": "1m"}, "data": {"timeframes": ["1m"]}})
    combos = sweep.combinations([("signals.entry_z", [1.6, 1.8, 2.0, 2.2, 2.4]),
                                     ("signals.exit_z", [0.2, 0.3, 0.4, 0.5]),
                                     ("indicators.bb_k", [1.5, 1.75, 2.0, 2.25, 2.5])], "grid")
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        rows = sweep.run(cfg, {"ETH": (small, [], 4)}, "1m", book, combos, cores())
        runs.append(time.perf_counter() - t)
    print(f"sweep, {len(rows)} combinations over {m:,} candles on {cores()} cores "
          f"(--scheduler local, each run starting and closing its cluster): median "
          f"{sorted(runs)[1]:.1f} s of {', '.join(f'{x:.1f}' for x in runs)} (goal < 4 s)")
    from perpbot.backtest import pool
    with pool.Executor(cores(), "local") as ex:
        t = time.perf_counter()
        list(ex.imap_unordered(_noop, range(2), _noop))         # the cluster up, data sent
        start = time.perf_counter() - t
        n_tasks = 1000
        t = time.perf_counter()
        list(ex.imap_unordered(_noop, range(n_tasks), _noop, per_task=1))   # a Dask task each
        each = (time.perf_counter() - t) / n_tasks
    print(f"Dask LocalCluster of {cores()}: start {start:.2f} s; scheduling overhead "
          f"{each * 1000:.2f} ms a task over {n_tasks} empty tasks (goal < 5 ms)")
    import tempfile

    from perpbot.backtest import search
    k = 10_000
    tiny = {k_: v[:k] for k_, v in cd.items()}
    ranges = [("signals.entry_z", [round(1.5 + 0.05 * i, 10) for i in range(30)]),
              ("signals.exit_z", [0.1, 0.2, 0.3, 0.4, 0.5]),
              ("indicators.bb_k", [1.5, 1.75, 2.0, 2.25, 2.5])]
    with tempfile.TemporaryDirectory() as d, pool.Executor(cores(), "local") as ex:
        t = time.perf_counter()
        n_rows = sum(1 for r in search.optuna_rows(
            cfg, {"ETH": (tiny, [], 4)}, "1m", book, ranges, ["sharpe"], 1000, 42, ex,
            f"sqlite:///{d}/bench.db", "bench") if "study" not in r)
        took = time.perf_counter() - t
    print(f"optuna study, {n_rows} TPE trials over {k:,} candles, SQLite storage, "
          f"{cores()} workers: {took:.1f} s")


LIVE_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
LIVE_ME = "0x14791697260e4c9a71f18484c9f997b308e59325"


def bench_tick_latency(candles: int = 30, mode: str = "paper") -> None:
    import os
    import signal
    import statistics

    live = mode == "live"
    extra = ["--account", f"{LIVE_ME}=100000", "--weight-per-min", "60000"] if live else []
    with tempfile.TemporaryDirectory() as d, \
            SimProcess("--synthetic", "ETH", "--history-days", "2", "--speed", "40",
                       *extra) as sim:
        cfg = Path(d) / "config.yaml"
        cfg.write_text(yaml.safe_dump({
            "symbols": ["ETH"], "exchange": {"api_url": sim.url, "clock": "sim",
                                             **({"network": "testnet"} if live else {})},
            "data": {"db_path": "b.db", "timeframes": ["1m"], "history_days": 1.0},
            "strategy": {"timeframe": "1m"}, "indicators": {"bb_k": 1.0},
            "signals": {"entry_z": 1.0, "rsi_overbought": 55.0, "rsi_oversold": 45.0,
                        "adx_max": 100.0},
            "execution": {"entry_timeout_s": 1.0}}))
        run_tool("backfill", "--config", str(cfg), capture_output=True, check=True)
        p = subprocess.Popen([sys.executable, str(BIN / "supervise"), "--config", str(cfg),
                              "--mode", mode], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env=dict(os.environ, HL_PRIVATE_KEY=LIVE_KEY))
        log = Path(d) / "perp-bot.log"
        lat: list = []
        deadline = time.time() + candles * 3 + 30
        while time.time() < deadline and len(lat) < candles:
            time.sleep(1)
            if log.exists():
                rows = [orjson.loads(x) for x in log.read_bytes().splitlines()]
                lat = [r for r in rows if r.get("msg") == "tick"]
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    values = [r["latency_s"] for r in lat]
    fills = sum(r["fills"] for r in lat)
    quiet = [r["latency_s"] for r in lat if not r["fills"]]
    print(f"{mode} tick latency, candle close to fills recorded, five stage processes, "
          f"{len(values)} ticks ({fills} fills): median {statistics.median(values):.3f} s, "
          f"worst {max(values):.3f} s" + (" (goal: median < 0.3 s)" if not live else
                                          f"; ticks with no order: median "
                                          f"{statistics.median(quiet):.3f} s (reconciliation "
                                          f"included; an entry waits up to its timeout)"))


def bench_live_orders(n: int = 200) -> None:
    """Signing alone, and a signed IOC's round trip to hl-sim (sign, post, verify, match)."""
    import statistics

    from eth_account import Account

    from perpbot.hl import signing
    from perpbot.hl.account import LiveAccount
    from perpbot.hl.client import InfoClient
    from perpbot.hl.exchange import ExchangeClient, NonceSource
    from perpbot.store import Store

    wallet = Account.from_key(LIVE_KEY)
    action = signing.order_action([signing.order_wire(0, True, 3000.5, 0.01, False,
                                                      {"limit": {"tif": "Ioc"}},
                                                      "0x" + "1" * 32)])
    t = time.perf_counter()
    for k in range(n):
        signing.sign_l1_action(wallet, action, None, 1_700_000_000_000 + k, None, False)
    sign_ms = (time.perf_counter() - t) / n * 1000
    with tempfile.TemporaryDirectory() as d, \
            SimProcess("--synthetic", "ETH", "--history-days", "0.2", "--account",
                       f"{LIVE_ME}=10000000", "--weight-per-min", "1000000") as sim:
        store = Store.open(Path(d) / "b.db")
        info = InfoClient(sim.url)
        client = ExchangeClient(sim.url, LiveAccount("testnet", LIVE_ME, LIVE_ME, wallet),
                                NonceSource(store, LIVE_ME, lambda: int(time.time() * 1000)),
                                info)
        mid = float(info.all_mids()["ETH"])
        rounds = []
        for k in range(n):
            wire = signing.order_wire(0, k % 2 == 0, round(mid * (1.01 if k % 2 == 0 else 0.99)),
                                      0.01, False, {"limit": {"tif": "Ioc"}}, f"{k + 1:#034x}")
            t = time.perf_counter()
            client.place([wire])
            rounds.append(time.perf_counter() - t)
        store.close()
    print(f"live orders: signing {sign_ms:.2f} ms an action; a signed IOC to hl-sim and its "
          f"answer (nonce kept in the store): median {statistics.median(rounds) * 1000:.1f} ms, "
          f"worst {max(rounds) * 1000:.1f} ms over {n}")


def bench_stage_startup(rounds: int = 5) -> None:
    for name in ("fetch-candles", "compute-indicators", "emit-signals", "risk-gate", "execute"):
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run([sys.executable, str(BIN / name), "--help"], capture_output=True,
                           check=True)
            best = min(best, time.perf_counter() - t)
        err = subprocess.run([sys.executable, "-X", "importtime", str(BIN / name), "--help"],
                             capture_output=True, check=True).stderr.decode().splitlines()
        top = [line.split("|") for line in err if line.startswith("import time:")
               and not line.split("|")[2].startswith("  ")]
        imports_us = sum(int(c[1]) for c in top if c[1].strip().isdigit())
        heavy = sorted(((int(c[1]), c[2].strip()) for c in top if c[1].strip().isdigit()),
                       reverse=True)[:3]
        print(f"  {name:<19} start-up {best * 1000:5.0f} ms, imports {imports_us / 1000:5.0f} ms "
              f"(largest: {', '.join(f'{m} {us / 1000:.0f}' for us, m in heavy)})")


def bench_monitor_idle(seconds: float = 20.0) -> None:
    """The monitor's CPU while idle: in tmux at 120x40 against a paper loop at 20x."""
    import os
    import shutil
    import signal

    if shutil.which("tmux") is None:
        print("monitor idle CPU: skipped (no tmux)")
        return
    with tempfile.TemporaryDirectory() as d, \
            SimProcess("--synthetic", "ETH", "--history-days", "2", "--speed", "20") as sim:
        cfg = Path(d) / "config.yaml"
        cfg.write_text(yaml.safe_dump({
            "symbols": ["ETH"], "exchange": {"api_url": sim.url, "clock": "sim"},
            "data": {"db_path": "b.db", "timeframes": ["1m"], "history_days": 1.0},
            "strategy": {"timeframe": "1m"}}))
        run_tool("backfill", "--config", str(cfg), capture_output=True, check=True)
        loop = subprocess.Popen([sys.executable, str(BIN / "supervise"), "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        name = f"perpbot-bench-{os.getpid()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40",
                        f"{sys.executable} {BIN / 'monitor'} --config {cfg}"], check=True)
        try:
            pid = int(subprocess.run(["tmux", "display", "-p", "-t", name, "#{pane_pid}"],
                                     capture_output=True, text=True).stdout)
            time.sleep(5)

            def cpu_s():
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            c0, t0 = cpu_s(), time.time()
            time.sleep(seconds)
            share = (cpu_s() - c0) / (time.time() - t0)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
            loop.send_signal(signal.SIGTERM)
            loop.wait(timeout=60)
    print(f"monitor idle CPU, tmux 120x40, a paper loop ticking every 3 s: {share * 100:.1f}% "
          f"of one core over {seconds:g} s (goal < 5%)")


SECTIONS = {
    "foundation": (bench_store_insert, bench_backfill),
    "indicators": (bench_indicators, bench_compute_indicators_stage),
    "backtest": (bench_backtest,),
    "loop": (bench_tick_latency, bench_stage_startup),
    "live": (bench_live_orders, lambda: bench_tick_latency(mode="live")),
    "monitor": (bench_monitor_idle,),
}

if __name__ == "__main__":
    for section in sys.argv[1:] or SECTIONS:
        print(f"== {section}")
        for fn in SECTIONS[section]:
            fn()
