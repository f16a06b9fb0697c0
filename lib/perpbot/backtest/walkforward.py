"""Walk-forward analysis: rolling train/test windows (defaults 60 days, 15, stepping 15).

- fixed: the same parameters on both windows of every fold; its overfitting score is
  IS Sharpe - OOS Sharpe (0: out of sample as good as in sample; positive: worse out of
  sample, by that much Sharpe, whatever either's sign; None where either is undefined).
- optimise: a sweep on each train window picks the parameters that maximise a named objective
  (sharpe, sortino, return, profit_factor, calmar, expected_value), which then run on the
  test window.

Every window is warmed up by the candles before it (IndicatorParams.converged: enough that its
indicators are within 1e-9 of a run over all the history) but trades
only inside itself. The out-of-sample results are stitched: every test window's round trips
together, and one equity curve that carries each window's gains on from the last.
"""

from __future__ import annotations

import math

import numpy as np

from .. import config as config_mod
from .. import metrics
from ..errors import UsageError
from ..execution import costs
from ..timeutil import DAY_MS, interval_ms, iso
from . import engine, pool, sweep
from .runs import combine

OBJECTIVES = ("sharpe", "sortino", "return", "profit_factor", "calmar", "expected_value")


def folds(first: int, last: int, train_days: float, test_days: float, step_days: float):
    """(train_start, test_start, test_end) in ms, while a whole test window fits."""
    train, test, step = (int(d * DAY_MS) for d in (train_days, test_days, step_days))
    out = []
    s = first
    while s + train + test <= last:
        out.append((s, s + train, s + train + test))
        s += step
    return out


def _window(data: dict, start: int, end: int, warm_ms: int) -> dict:
    """The data of [start - warm, end): candles and funding."""
    out = {}
    for sym, (candles, funding, sz_decimals) in data.items():
        t = candles["t"]
        a, b = np.searchsorted(t, start - warm_ms), np.searchsorted(t, end)
        out[sym] = ({k: v[a:b] for k, v in candles.items()},
                    costs.rates_within(funding, start - warm_ms, end), sz_decimals)
    return out


def _run(cfg, data, tf, book, start, end, warm_ms):
    setup = engine.Setup.from_config(cfg)
    window = {sym: d for sym, d in _window(data, start, end, warm_ms).items() if len(d[0]["t"])}
    results = engine.run_many(tf, window, book, setup, trade_from=start,
                              separate=setup.backtest.separate_accounts)
    trips, t, eq = combine(results, cfg.risk.capital)
    return trips, t, eq, metrics.summary(trips, t, eq)


def _score(m: dict, objective: str) -> float:
    v = m.get(objective)
    return float("-inf") if v is None else v


def overfit(is_sharpe, oos_sharpe):
    """In-sample Sharpe minus out-of-sample Sharpe: how much of the fold's Sharpe did not carry
    out of the sample it was chosen on. Positive is worse out of sample, whatever the signs
    (a ratio flips when the in-sample Sharpe is negative); None when either is undefined."""
    if is_sharpe is None or oos_sharpe is None:
        return None
    return is_sharpe - oos_sharpe


def run(cfg, data: dict, tf: str, book, mode: str, train_days=60.0, test_days=15.0,
        step_days=15.0, ranges=(), objective="sharpe", search="grid", samples=50, seed=42,
        jobs=1, progress=None, scheduler: str = "local") -> dict:
    """`progress(done, total)` is called as folds finish (a terminal's progress bar). The
    folds' sweeps run on one pool.Executor for the whole run (`jobs` local workers, or the Dask
    cluster at `scheduler`)."""
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective {objective}: expected one of {', '.join(OBJECTIVES)}")
    if mode == "optimise" and not ranges:
        raise UsageError("optimise needs at least one --range to search")
    first = min(int(c["t"][0]) for c, _, _ in data.values())
    last = max(int(c["t"][-1]) for c, _, _ in data.values()) + interval_ms(tf)
    warm = cfg.indicators.converged() * interval_ms(tf)
    windows = folds(first + warm, last, train_days, test_days, step_days)
    if not windows:
        need = train_days + test_days + warm / DAY_MS
        raise UsageError(
            f"walk-forward needs {need:.1f} days of {tf} history (train {train_days:g} + test "
            f"{test_days:g} + {warm / DAY_MS:.1f} of indicator warm-up); the store holds "
            f"{(last - first) / DAY_MS:.1f}: run `backfill --tf {tf} --start "
            f"{iso(last - int(need * DAY_MS) - DAY_MS)}` (and keep data.history_days >= "
            f"{math.ceil(need) + 1}), or shorten --train-days/--test-days")
    with pool.Executor(jobs if mode == "optimise" else 1, scheduler) as executor:
        return _folds(cfg, data, tf, book, mode, windows, warm, ranges, objective, search,
                      samples, seed, progress, executor,
                      {"train_days": train_days, "test_days": test_days, "step_days": step_days})


def _folds(cfg, data, tf, book, mode, windows, warm, ranges, objective, search, samples, seed,
           progress, executor, spans) -> dict:
    out_folds, oos_trips, stitched_t, stitched_eq = [], [], [], []
    carried = 0.0
    for k, (a, b, e) in enumerate(windows):
        chosen = {}
        fold_cfg = cfg
        if mode == "optimise":
            window = _window(data, a, b, warm)
            if search == "optuna":
                from .search import optuna_combos
                combos, rows = optuna_combos(cfg, window, tf, book, list(ranges), objective,
                                             samples, seed + k, executor, trade_from=a)
            else:
                combos = sweep.combinations(list(ranges), search, samples, seed + k)
                rows = sweep.run(cfg, window, tf, book, combos, executor.jobs, trade_from=a,
                                 executor=executor)
            ok = [(c, r) for c, r in zip(combos, rows) if "error" not in r]
            chosen = max(ok, key=lambda cr: _score(cr[1], objective))[0]
            for key, v in chosen.items():
                fold_cfg = config_mod.override(fold_cfg, f"{key}={sweep._yaml_value(v)}")
        _, _, _, is_m = _run(fold_cfg, data, tf, book, a, b, warm)
        trips, t, eq, oos_m = _run(fold_cfg, data, tf, book, b, e, warm)
        out_folds.append({"fold": k, "train": [a, b], "test": [b, e], "params": chosen,
                          "in_sample": is_m, "out_of_sample": oos_m,
                          "overfit": overfit(is_m["sharpe"], oos_m["sharpe"])})
        oos_trips += trips
        if progress is not None:
            progress(k + 1, len(windows))
        stitched_t += t.tolist()
        stitched_eq += (eq + carried).tolist()
        carried += (eq[-1] - cfg.risk.capital) if len(eq) else 0.0
    t_all, eq_all = np.array(stitched_t, dtype=np.int64), np.array(stitched_eq)
    scores = [f["overfit"] for f in out_folds if f["overfit"] is not None]
    return {
        "mode": mode, "objective": objective if mode == "optimise" else None,
        "windows": spans,
        "folds": out_folds,
        "out_of_sample": metrics.summary(oos_trips, t_all, eq_all),
        "in_sample_mean_sharpe": _mean([f["in_sample"]["sharpe"] for f in out_folds]),
        "out_of_sample_mean_sharpe": _mean([f["out_of_sample"]["sharpe"] for f in out_folds]),
        "mean_overfit": _mean(scores),
    }


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None
