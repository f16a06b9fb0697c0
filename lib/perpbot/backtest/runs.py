"""A backtest run over the store: loading its data, running each symbol, combining the results,
and keeping the run (params, metrics, trades, equity curve) in backtest_runs."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np
import orjson

from .. import metrics
from ..errors import UsageError
from ..execution import costs
from ..regime import RegimeBook
from ..store import Store
from ..timeutil import HOUR_MS, interval_ms, iso
from . import engine


def load_candles(store: Store, symbol: str, tf: str, start: int | None, end: int | None) -> dict:
    rows = store.candles(symbol, tf, start, end)
    if not rows:
        raise UsageError(f"no {tf} candles of {symbol} in the store for that period (backfill?)")
    a = np.array([r[2:8] for r in rows], dtype=float)
    return {"t": a[:, 0].astype(np.int64), "o": a[:, 2], "h": a[:, 3], "l": a[:, 4], "c": a[:, 5]}


def combine(results: list[engine.Result], capital: float) -> tuple[list, np.ndarray, np.ndarray]:
    """All symbols' round trips, and one equity curve: capital plus every symbol's gain so far,
    on the union of their candle closes."""
    trips = sorted((x for r in results for x in r.trips), key=lambda x: (x["exit_t"], x["symbol"]))
    if len(results) == 1:               # its closes are already the union
        return trips, results[0].equity_t.astype(np.int64), results[0].equity.copy()
    times = np.unique(np.concatenate([r.equity_t for r in results])) if results else np.zeros(0)
    total = np.full(len(times), capital)
    for r in results:
        idx = np.searchsorted(r.equity_t, times, side="right") - 1
        gain = np.where(idx >= 0, r.equity[np.maximum(idx, 0)] - capital, 0.0)
        total += gain
    return trips, times.astype(np.int64), total


def load(store: Store, symbols, tf: str, start: int | None, end: int | None,
         sz_decimals: dict[str, int] | None = None) -> dict:
    """symbol -> (candles, funding rows, lot decimals) for a run over [start, end]."""
    sz_decimals = {**store.size_decimals(), **(sz_decimals or {})}
    data = {}
    for sym in symbols:
        if sym not in sz_decimals:
            raise UsageError(f"no lot size for {sym}: run backfill (it stores the exchange's "
                             f"meta) or pass --sz-decimals {sym}=N")
        candles = load_candles(store, sym, tf, start, end)
        first, last = int(candles["t"][0]), int(candles["t"][-1]) + interval_ms(tf)
        funding = costs.rates_within(store.funding(sym, first, last + HOUR_MS), first, last)
        data[sym] = (candles, funding, sz_decimals[sym])
    return data


def warmup(data: dict, params, start: int | None) -> dict:
    """Per symbol, the candles of history each indicator needs (lookahead.warmup, measured on
    this data) and how many the run has before it trades: fewer, and its first decisions depend
    on where the data starts."""
    from .. import lookahead

    out = {}
    for sym, (candles, _, _) in data.items():
        need = lookahead.warmup(candles, params)
        before = int(np.searchsorted(candles["t"], start)) if start is not None else 0
        out[sym] = {"needed": need, "candles_before_trading": before}
    return out


def load_warm(store: Store, cfg, symbols, tf: str, start: int | None, end: int | None,
              sz_decimals: dict[str, int] | None = None) -> dict:
    """As `load`, with the history before `start` that warms the indicators up
    (IndicatorParams.converged candles) when there is one; the run trades from `start`."""
    if start is None:
        return load(store, symbols, tf, start, end, sz_decimals)
    need = cfg.indicators.converged()
    # three times the span, as history has gaps; then the last `need` candles before start
    data = load(store, symbols, tf, start - 3 * need * interval_ms(tf), end, sz_decimals)
    out = {}
    for sym, (candles, funding, n) in data.items():
        a = max(0, int(np.searchsorted(candles["t"], start)) - need)
        out[sym] = ({k: v[a:] for k, v in candles.items()},
                    costs.rates_within(funding, int(candles["t"][a]),
                                       int(candles["t"][-1]) + interval_ms(tf)), n)
    return out


def gaps(data: dict, tf: str, shown: int = 5) -> dict:
    """Where candles are missing: every step between two candles longer than the interval, over
    every symbol (count, missing candles, the longest, the first few)."""
    iv = interval_ms(tf)
    found = []
    for sym, (candles, _, _) in data.items():
        t = candles["t"]
        step = np.diff(t)
        for k in np.flatnonzero(step > iv):
            found.append({"symbol": sym, "after": int(t[k]) + iv, "before": int(t[k + 1]),
                          "missing_candles": int(step[k] // iv) - 1})
    found.sort(key=lambda g: (g["after"], g["symbol"]))
    longest = max(found, key=lambda g: g["missing_candles"], default=None)
    return {"count": len(found), "missing_candles": sum(g["missing_candles"] for g in found),
            "longest": longest, "first": found[:shown]}


def funding_coverage(data: dict, tf: str, start: int | None = None) -> dict:
    """Hours of the run (from `start`) without a funding rate, per symbol and in all (their
    funding is zero)."""
    iv = interval_ms(tf)
    per, hours, missing = {}, 0, 0
    for sym, (candles, rows, _) in data.items():
        first, last = max(int(candles["t"][0]), start or 0), int(candles["t"][-1]) + iv
        n = len(costs.hours_crossed(first, last))
        gone = len(costs.missing_hours(costs.hourly_rates(rows), first, last))
        per[sym] = {"hours": n, "missing": gone}
        hours, missing = hours + n, missing + gone
    return {"hours": hours, "missing": missing, "by_symbol": per}


def funding_line(cov: dict) -> str | None:
    """The warning a run with missing funding hours gets (None when none are missing)."""
    if not cov["missing"]:
        return None
    return (f"funding: {cov['missing']} of {cov['hours']} hours missing; their funding is taken "
            f"as zero")


def run(store: Store, cfg, symbols, tf: str, start: int | None, end: int | None,
        sz_decimals: dict[str, int] | None = None) -> dict:
    """Backtest the symbols on one account (backtest.separate_accounts: each on its own) and
    return the summary; the caller stores it. Hours without a funding rate are an error with
    backtest.require_funding."""
    setup = engine.Setup.from_config(cfg)
    book = RegimeBook(store.regimes(), cfg.regime)
    data = load_warm(store, cfg, symbols, tf, start, end, sz_decimals)
    warm = warmup(data, cfg.indicators, start)
    coverage = funding_coverage(data, tf, start)
    if coverage["missing"] and setup.backtest.require_funding:
        raise UsageError(funding_line(coverage).split(";")[0] + " and funding is required "
                         "(backfill the funding history, or drop --require-funding)")
    results = engine.run_many(tf, data, book, setup, trade_from=start,
                              separate=setup.backtest.separate_accounts)
    trips, t, equity = combine(results, cfg.risk.capital)
    m = metrics.summary(trips, t, equity)
    params = {f.name: dataclasses.asdict(getattr(setup, f.name))
              for f in dataclasses.fields(setup)}
    created = int(time.time() * 1000)
    run_id = hashlib.sha256(orjson.dumps([symbols, tf, start, end, params, created],
                                         option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return {
        "run_id": run_id, "created": created, "symbols": list(symbols), "tf": tf,
        "start": int(t[0]) if len(t) else start, "end": int(t[-1]) if len(t) else end,
        "params": params, "metrics": m,
        "rejected": _sum_dicts(r.rejected for r in results),
        "cancelled_entries": sum(r.cancelled for r in results),
        "accounts": "separate" if setup.backtest.separate_accounts else "shared",
        "funding_hours": {**coverage, "missing_in_position":
                          sum(r.missing_funding_hours for r in results)},
        "gaps": gaps(data, tf),
        "warmup": warm,
        "gapped_stops": {"count": sum(r.gapped_stops for r in results),
                         "extra_loss": sum(r.gap_loss for r in results)},
        "regime": results[0].regime_note or "regime snapshots applied as of each close",
        "trips": trips, "equity_t": t.tolist(), "equity": equity.tolist(),
    }


def assumptions(summary: dict) -> list[tuple[str, dict]]:
    """One line for each thing a run had to assume or met in its data, with its figures."""
    out = []
    g = summary["gaps"]
    if g["count"]:
        longest = g["longest"]
        out.append((f"candles: {g['count']} gaps, {g['missing_candles']} candles missing "
                    f"(longest {longest['missing_candles']} in {longest['symbol']} before "
                    f"{iso(longest['before'])}); an entry delay counts the candles present",
                    {"first": g["first"]}))
    for sym, w in summary["warmup"].items():
        short = {k: v for k, v in w["needed"].items() if v is not None
                 and v > w["candles_before_trading"]}
        if short:
            worst = max(short, key=short.get)
            out.append((f"warm-up: {sym} trades after {w['candles_before_trading']} candles of "
                        f"history; {worst} needs {short[worst]} to forget where the data starts "
                        f"(within 1e-9), so its first decisions depend on that start (give "
                        f"--start later than the first stored candle)", {"needs": short}))
    line = funding_line(summary["funding_hours"])
    if line:
        out.append((line, {"by_symbol": summary["funding_hours"]["by_symbol"]}))
    s = summary["gapped_stops"]
    if s["count"]:
        out.append((f"exchange stops: {s['count']} filled at a gap's open past the stop, "
                    f"{s['extra_loss']:.2f} USDC worse than at the stop", {}))
    return out


def _sum_dicts(ds) -> dict:
    out: dict = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def save(store: Store, summary: dict) -> None:
    store.save_backtest_run(
        summary["run_id"], summary["created"],
        {k: summary[k] for k in ("symbols", "tf", "start", "end", "params")},
        {k: summary[k] for k in ("metrics", "rejected", "cancelled_entries", "accounts",
                                 "funding_hours", "gaps", "gapped_stops", "warmup", "regime")},
        summary["trips"], {"t": summary["equity_t"], "equity": summary["equity"]})


def write_parquet(summary: dict, out: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    trips = summary["trips"]
    cols = ["symbol", "side", "size", "entry_t", "entry_price", "exit_t", "exit_price",
            "exit_reason", "entry_reason", "fees", "funding", "slippage", "pnl"]
    tbl = pa.table({c: [x[c] for x in trips] for c in cols}) if trips else \
        pa.table({c: pa.array([], type=pa.string() if c in ("symbol", "side", "exit_reason",
                                                              "entry_reason") else pa.float64())
                  for c in cols})
    eq = pa.table({"t": pa.array(summary["equity_t"], type=pa.int64()),
                   "equity": pa.array(summary["equity"], type=pa.float64())})
    paths = [out / "trades.parquet", out / "equity.parquet"]
    pq.write_table(tbl, paths[0])
    pq.write_table(eq, paths[1])
    return paths
