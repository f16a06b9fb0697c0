"""Optuna search over sweep ranges, and the neighbourhood of a sweep's best point.

`optuna_rows` runs a study with the TPE sampler (seeded) over the --range values: each
parameter is an ordered index into its values, so every trial runs exact grid values and a
point's neighbours are one step either way. Trials are asked in batches of the executor's size,
run as tasks on it (pool.Executor: local processes or a Dask cluster) and told in trial order,
so a seed gives the same study however the tasks finish. The study lives in `storage`
(default: SQLite beside the store) under a name made from what it searches, so running the
same sweep again resumes it, and machines that share a database share the study. Several
objectives give the Pareto front.

`neighbourhood` looks at the best point's neighbours (each parameter one step down and up) so a
user does not pick an optimum on a cliff: FRAGILE when a neighbour keeps less than half of the
best's objective (or changes its sign), ROBUST otherwise.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Iterator

import orjson

from ..errors import UsageError
from . import pool, sweep

# the objectives a sweep can aim at, and which way is better
DIRECTIONS = {"sharpe": "maximize", "sortino": "maximize", "return": "maximize",
              "calmar": "maximize", "profit_factor": "maximize", "expected_value": "maximize",
              "total_pnl": "maximize", "max_drawdown": "minimize"}
CLIFF_SHARE = 0.5       # a neighbour keeping less of the best's objective is a cliff


def check_objectives(objectives) -> list[str]:
    objectives = list(objectives) or ["sharpe"]
    for o in objectives:
        if o not in DIRECTIONS:
            raise UsageError(f"--objective {o}: expected one of {', '.join(DIRECTIONS)}")
    return objectives


def default_storage(db_path) -> str:
    return f"sqlite:///{Path(db_path).resolve().parent / 'perpbot-optuna.db'}"


def study_name(symbols, tf, ranges, objectives, start=None, end=None) -> str:
    """The same search (symbols, timeframe, ranges, objectives, period) resumes the same study."""
    what = orjson.dumps([list(symbols), tf, ranges, objectives, start, end])
    return "sweep-" + hashlib.sha256(what).hexdigest()[:12]


def _value(row: dict, objective: str) -> float | None:
    v = row.get(objective)
    return None if v is None or "error" in row else float(v)


def optuna_rows(cfg, data: dict, tf: str, book, ranges: list[tuple[str, list]],
                objectives: list[str], trials: int, seed: int, executor: pool.Executor,
                storage: str | None = None, name: str | None = None,
                trade_from=None) -> Iterator[dict]:
    """Rows of the study's new trials as each batch is told ({params, metrics, trial}), until
    the study holds `trials` finished trials. `storage` None: in memory."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    directions = [DIRECTIONS[o] for o in objectives]
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                directions=directions, load_if_exists=name is not None)
    done = [t for t in study.trials if t.state.is_finished()]
    batch = max(1, executor.jobs)
    left = trials - len(done)
    while left > 0:
        asked = [study.ask() for _ in range(min(batch, left))]
        combos = [{key: values[t.suggest_int(key, 0, len(values) - 1)]
                   for key, values in ranges} for t in asked]
        rows = sweep.run(cfg, data, tf, book, combos, executor.jobs, trade_from,
                         executor=executor)
        for t, row in zip(asked, rows):         # told in trial order: the seed decides all
            values = [_value(row, o) for o in objectives]
            if any(v is None for v in values):
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, values if len(values) > 1 else values[0])
            yield {**row, "trial": t.number}
        left -= len(asked)
    yield {"study": study}


def front(study, objectives: list[str], ranges: list[tuple[str, list]]) -> list[dict]:
    """The best trial, or the Pareto front with several objectives: params and values."""
    trials = study.best_trials if len(objectives) > 1 else [study.best_trial]
    values = dict(ranges)
    return [{"trial": t.number, "values": dict(zip(objectives, t.values)),
             "params": {k: values[k][i] for k, i in t.params.items()}} for t in trials]


def optuna_combos(cfg, data, tf, book, ranges, objective: str, trials: int, seed: int,
                  executor: pool.Executor, trade_from=None) -> tuple[list[dict], list[dict]]:
    """A walk-forward fold's search: an in-memory study of `trials`; (combos, rows)."""
    rows = [r for r in optuna_rows(cfg, data, tf, book, ranges, [objective], trials, seed,
                                   executor, trade_from=trade_from) if "study" not in r]
    return [{k: r[k] for k, _ in ranges} for r in rows], rows


def best_row(rows: list[dict], objective: str) -> dict | None:
    ok = [r for r in rows if _value(r, objective) is not None]
    if not ok:
        return None
    sign = 1.0 if DIRECTIONS[objective] == "maximize" else -1.0
    return max(ok, key=lambda r: sign * _value(r, objective))


def neighbourhood(best: dict, rows: list[dict], ranges: list[tuple[str, list]], objective: str,
                  run: Callable[[list[dict]], list[dict]]) -> dict:
    """The objective at each parameter's values one step either side of the best point (run
    where no row has it yet), the spread, and a verdict."""
    params = {key: best[key] for key, _ in ranges}
    wanted = []
    for key, values in ranges:
        if params[key] not in values:
            continue
        i = values.index(params[key])
        for j in (i - 1, i + 1):
            if 0 <= j < len(values):
                wanted.append((key, j - i, {**params, key: values[j]}))

    def point(r: dict) -> bytes:                # a row's or a combination's parameter values
        return orjson.dumps([r.get(k) for k in params])

    known = {point(r): r for r in rows}
    missing = [c for _, _, c in wanted if point(c) not in known]
    for r in run(missing) if missing else []:
        known[point(r)] = r
    at = _value(best, objective)
    out, values_seen, cliffs = {}, [at], []
    for key, step, combo in wanted:
        v = _value(known[point(combo)], objective)
        out.setdefault(key, {})["-1" if step < 0 else "+1"] = v
        values_seen.append(v)
        if _cliff(at, v, objective):
            cliffs.append(f"{key} {'+' if step > 0 else '-'}1 step: {objective} {at:.4g} -> "
                          + ("none" if v is None else f"{v:.4g}"))
    finite = [v for v in values_seen if v is not None]
    return {"objective": objective, "best": at, "params": params, "neighbours": out,
            "spread": (max(finite) - min(finite)) if finite else None,
            "verdict": "FRAGILE" if cliffs else "ROBUST", "cliffs": cliffs}


def _cliff(at: float, v: float | None, objective: str) -> bool:
    if v is None:
        return True
    if DIRECTIONS[objective] == "minimize":             # a drawdown: more than 1.5x is a cliff
        return v > at * (1 + CLIFF_SHARE) + 1e-12
    if at <= 0:
        return v < at - abs(at) * CLIFF_SHARE
    return v < at * CLIFF_SHARE
