"""Parameter sweeps: one at a time (each parameter across its range, the rest fixed), full grids,
or random samples of a grid, run in parallel processes, one row of metrics per combination.

A parameter is ROBUST when at least 70% of its values are profitable (total PnL > 0) with the
others fixed. Combinations run in worker processes (perpbot.backtest.pool) that receive the data
once each; a worker computes each indicator once per distinct set of its own parameters. Rows
come back as each combination finishes, so an interrupted sweep keeps what it finished and a
later one can resume from it.
"""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path
from typing import Iterator

import orjson
import yaml

from .. import config as config_mod
from .. import metrics, records
from ..errors import UsageError
from ..indicators import compute_arrays
from . import engine, pool

ROBUST_SHARE = 0.7


def parse_range(spec: str) -> tuple[str, list]:
    """`section.key=a,b,c` or `section.key=start:stop:step` (stop included)."""
    key, sep, text = spec.partition("=")
    if not sep or "." not in key:
        raise UsageError(f'--range "{spec}": expected section.key=a,b,c or start:stop:step')
    if ":" in text:
        try:
            start, stop, step = (float(x) for x in text.split(":"))
        except ValueError:
            raise UsageError(f'--range "{spec}": start:stop:step must be numbers') from None
        if step <= 0 or stop < start:
            raise UsageError(f'--range "{spec}": expected start <= stop and step > 0')
        count = int(round((stop - start) / step)) + 1
        values = [round(start + k * step, 10) for k in range(count)]
    else:
        values = [yaml.safe_load(v) for v in text.split(",") if v != ""]
    if not values:
        raise UsageError(f'--range "{spec}": no values')
    return key, values


def combinations(ranges: list[tuple[str, list]], mode: str, samples: int = 0,
                 seed: int = 42) -> list[dict]:
    """Parameter dicts (section.key -> value) to run."""
    if mode == "oat":
        return [{key: v} for key, values in ranges for v in values]
    grid = [dict(zip([k for k, _ in ranges], combo))
            for combo in itertools.product(*[v for _, v in ranges])]
    if mode == "random":
        rng = random.Random(seed)
        return rng.sample(grid, min(samples, len(grid)))
    return grid


# worker state: the run's data, set once per worker process (or here, in-process)
_DATA: dict = {}


def _load(cfg, data: dict, tf: str, book, trade_from) -> None:
    _DATA.clear()
    _DATA.update(cfg=cfg, symbols=data, tf=tf, book=book, trade_from=trade_from)


def _run_one(params: dict) -> dict:
    cfg = _DATA["cfg"]
    try:
        for k, v in params.items():
            cfg = config_mod.override(cfg, f"{k}={_yaml_value(v)}")
    except Exception as e:       # noqa: BLE001 - one bad combination must not end the sweep
        return {**params, "error": str(e)}
    setup = engine.Setup.from_config(cfg)
    caches = _DATA.setdefault("indicators", {})        # symbol -> compute_arrays' cache
    indicators = {}
    for sym, (candles, _, _) in _DATA["symbols"].items():
        cache = caches.setdefault(sym, {})
        if len(cache) > 12:             # 1M candles: at most ~400 MB of arrays
            cache.clear()
        indicators[sym] = compute_arrays(candles["h"], candles["l"], candles["c"],
                                         setup.indicators, cache)
    results = engine.run_many(_DATA["tf"], _DATA["symbols"], _DATA["book"], setup,
                              trade_from=_DATA["trade_from"], indicators=indicators,
                              separate=setup.backtest.separate_accounts)
    from .runs import combine
    trips, t, eq = combine(results, cfg.risk.capital)
    return {**params, **metrics.summary(trips, t, eq)}


def _yaml_value(v) -> str:
    return yaml.safe_dump(v).strip().removesuffix("...").strip()


def stream(cfg, data: dict, tf: str, book, combos: list[dict], jobs: int,
           trade_from=None, scheduler: str = "local",
           executor: pool.Executor | None = None) -> Iterator[tuple[int, dict]]:
    """(index into combos, metrics row) for every combination, as each finishes. `data`:
    symbol -> (candles, funding rows, lot decimals). Runs on `executor`, or on `jobs` local
    workers or the Dask cluster at `scheduler` (pool.py)."""
    return pool.imap_unordered(_run_one, combos, jobs, _load, (cfg, data, tf, book, trade_from),
                               scheduler, executor)


def run(cfg, data: dict, tf: str, book, combos: list[dict], jobs: int, trade_from=None,
        progress=None, scheduler: str = "local",
        executor: pool.Executor | None = None) -> list[dict]:
    """Metrics for every combination, in the order given."""
    rows: list = [None] * len(combos)
    for k, row in stream(cfg, data, tf, book, combos, jobs, trade_from, scheduler, executor):
        rows[k] = row
        if progress:
            progress(1)
    return rows


def in_order(rows: Iterator[tuple[int, dict]], held: dict) -> Iterator[dict]:
    """Rows by their index, whatever order they finish in: each as soon as every row before
    it is out. `held` keeps, in order, those waiting behind one still running (the caller
    writes them if the run is cut short)."""
    want = 0
    for k, row in rows:
        held[k] = row
        while want in held:
            yield held.pop(want)
            want += 1


def same_params(row: dict, combo: dict) -> bool:
    """Whether a result row is the run of this combination (its parameter values equal)."""
    return all(k in row and row[k] == v for k, v in combo.items())


# entry thresholds a signal cannot go below: it also needs the close outside the bands
BAND_BOUND = ("signals.entry_z", "signals.high_risk_entry_z")


def robustness(rows: list[dict], ranges: list[tuple[str, list]], cfg=None) -> dict:
    """One-at-a-time results per parameter: the share of its values that were profitable, and
    ROBUST when that share is at least 70%; NO_EFFECT (with the reason, where the rules show
    it) when every value gave the same trades, which no share can judge."""
    out = {}
    for key, _ in ranges:
        mine = [r for r in rows if key in r and "error" not in r]
        profitable = sum(1 for r in mine if r["total_pnl"] > 0)
        share = profitable / len(mine) if mine else 0.0
        out[key] = {"values": len(mine), "profitable": profitable, "share": share,
                    "verdict": "ROBUST" if share >= ROBUST_SHARE else "FRAGILE"}
        outcomes = {(r.get("trades"), r.get("total_pnl")) for r in mine}
        if len(mine) >= 2 and len(outcomes) == 1:
            reason = "every value gave the same trades"
            bb_k = cfg.indicators.bb_k if cfg is not None else None
            if key in BAND_BOUND and bb_k is not None and all(r[key] <= bb_k for r in mine):
                reason = (f"a signal also needs the close outside the bands "
                          f"(indicators.bb_k = {bb_k:g}): {key} at or below it changes nothing")
            out[key].update(verdict="NO_EFFECT", no_effect=True, reason=reason)
    return out


def to_parquet(rows: list[dict], path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = list(dict.fromkeys(k for r in rows for k in r))
    cols = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            cols[k] = pa.array([None if v is None else float(v) for v in vals], pa.float64())
        else:
            cols[k] = pa.array([None if v is None else str(v) for v in vals], pa.string())
    pq.write_table(pa.table(cols), path)


# streaming output and resuming -------------------------------------------------------------------

def read_rows(path) -> list[dict]:
    """The rows of an earlier sweep's output: NDJSON, or Parquet (a .parquet file)."""
    path = Path(path)
    if not path.exists():
        return []
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        return [{k: v for k, v in r.items() if v is not None}
                for r in pq.read_table(path).to_pylist()]
    rows = []
    lines = path.read_bytes().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            if n == len(lines):
                break                   # a last line cut short by an interrupted run
            raise UsageError(f"--resume {path}: line {n} is not JSON") from None
    return rows


class RowSink:
    """Rows to stdout (NDJSON, one per finished combination) and to --out: NDJSON appended as
    they come, or Parquet rewritten whole (atomically) at each `flush`. After `flush` returns,
    every row written so far is in both places."""

    def __init__(self, writer, out=None, earlier: list[dict] = (), append: bool = False):
        self.writer = writer            # records.Writer: stdout
        self.out = Path(out) if out else None
        self.rows = list(earlier)
        self.parquet = self.out is not None and self.out.suffix == ".parquet"
        self.file = None
        if self.out is not None and not self.parquet:
            self.file = open(self.out, "ab" if append else "wb")
            if not append:
                self.file.write(b"".join(records.dumps(r) for r in self.rows))

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.writer.write(row)
        if self.file is not None:
            self.file.write(records.dumps(row))

    def flush(self) -> None:
        self.writer.flush()
        if self.file is not None:
            self.file.flush()
        elif self.parquet:
            tmp = self.out.with_name(self.out.name + ".tmp")
            to_parquet(self.rows, tmp)
            os.replace(tmp, self.out)

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.close()
