"""Look-ahead and warm-up checks: does anything the strategy decides at a candle depend on data
after it, and how much history before a candle makes its indicators independent of where the
data starts.

`check` runs the strategy (indicators, the signal's decision for every position state, the
backtest's trades) over the full data and over the data cut at N points (seeded), and reports
every indicator value, decision or trade before a cut that differs from the full run's, with
the first differing field. It compares every row before each cut, so a peek of one candle (a
value at t computed from t + 1) is caught at the cut's last row, where a check of a few entry
points would miss it. Indicators are compared bit for bit: an exact threshold must decide the
same whatever data follows.

`warmup` measures, per indicator, the candles of history before a candle that bring its value
within `tol` of the value from all the history (Wilder's smoothing in RSI and ADX never forgets
its start; finite windows forget exactly).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import signals
from .backtest import engine
from .indicators import compute_arrays
from .params import StrategyParams
from .regime import RegimeBook
from .timeutil import interval_ms

FIELDS = ("z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")
SIDES = (None, "long", "short")
TRADE_FIELDS = ("side", "size", "entry_t", "entry_price", "exit_t", "exit_price",
                "exit_reason", "fees", "funding", "pnl")


@dataclass
class Finding:
    cut: int                # the first candle left out (ms)
    kind: str               # indicator, decision or trade
    t: int                  # the candle (ms) or the trade's entry
    field: str
    full: object
    cut_run: object

    def record(self) -> dict:
        return {"cut": self.cut, "kind": self.kind, "t": self.t, "field": self.field,
                "full": _plain(self.full), "cut_run": _plain(self.cut_run)}


def _plain(v):
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def decisions(ind: dict, t: np.ndarray, iv: int, book: RegimeBook, setup: StrategyParams,
              rows: range) -> dict[int, tuple]:
    """The signal's decision at each row's close, for a flat, a long and a short position."""
    sp = setup.signals
    cache: dict = {}
    out = {}
    for i in rows:
        level = book.at(int(t[i]) + iv)[0]
        th = cache.get(level) or cache.setdefault(level, signals.thresholds(sp, level))
        row = {k: float(ind[k][i]) for k in ("close", *FIELDS)}
        out[i] = tuple(signals.decide(row, side, th, sp) for side in SIDES)
    return out


def check(symbol: str, tf: str, candles: dict, funding_rows, book: RegimeBook,
          setup: StrategyParams, sz_decimals: int, cuts: int = 20, seed: int = 42,
          compute: Callable | None = None) -> tuple[list[int], list[Finding]]:
    """The cut points (ms) and everything before them that differs from the full run.
    `compute(h, l, c)` gives the indicator columns (default: the strategy's; a test passes a
    copy of the rules that peeks)."""
    compute = compute or (lambda h, lo, c: compute_arrays(h, lo, c, setup.indicators))
    iv = interval_ms(tf)
    t = np.asarray(candles["t"], dtype=np.int64)
    h, lo, c = (np.asarray(candles[k], dtype=float) for k in ("h", "l", "c"))
    n = len(t)

    def strategy(k: int):
        ind = {"close": c[:k], **compute(h[:k], lo[:k], c[:k])}
        res = engine.run(symbol, tf, {key: np.asarray(candles[key])[:k] for key in "tohlc"},
                         funding_rows, book, setup, sz_decimals, indicators=ind)
        return ind, res

    full_ind, full_res = strategy(n)
    first = min(setup.indicators.warmup(), n - 1)
    points = sorted(random.Random(seed).sample(range(first + 1, n), min(cuts, n - first - 1)))
    full_dec = decisions(full_ind, t, iv, book, setup, range(n))
    found: list[Finding] = []
    for cut in points:
        at = int(t[cut])
        ind, res = strategy(cut)
        for f in FIELDS:
            for i in np.flatnonzero(~_same(ind[f], full_ind[f][:cut])):
                found.append(Finding(at, "indicator", int(t[i]), f, full_ind[f][i], ind[f][i]))
        dec = decisions(ind, t, iv, book, setup, range(cut))
        for i in range(cut):
            if dec[i] != full_dec[i]:
                side, a, b = next((s, x, y) for s, x, y in zip(SIDES, full_dec[i], dec[i])
                                  if x != y)
                field = next(k for k in ("action", "reason", "exit", "stop_loss")
                             if getattr(a, k) != getattr(b, k))
                found.append(Finding(at, "decision", int(t[i]), f"{side or 'flat'}.{field}",
                                     getattr(a, field), getattr(b, field)))
        found += _trades(at, full_res.trips, res.trips, int(t[cut - 1]) + iv)
    return [int(t[k]) for k in points], found


def _trades(at: int, full: list, part: list, last_close: int) -> list[Finding]:
    """Trades closed by the cut run's last close must be the full run's, field for field (the
    cut run's closing of what is open at its end is its own)."""
    want = [x for x in full if x["exit_t"] <= last_close]
    got = [x for x in part if x["exit_reason"] != "backtest_end"]
    out = []
    for a, b in zip(want, got):
        field = next((k for k in TRADE_FIELDS if a[k] != b[k]), None)
        if field is not None:
            out.append(Finding(at, "trade", a["entry_t"], field, a[field], b[field]))
    if len(want) != len(got):
        extra = (want if len(want) > len(got) else got)[min(len(want), len(got))]
        out.append(Finding(at, "trade", extra["entry_t"], "count", len(want), len(got)))
    return out


def warmup(candles: dict, params, tol: float = 1e-9, points: int = 5) -> dict[str, int | None]:
    """Per indicator, the fewest candles of history before a candle that bring its value within
    `tol` of its value from all the history, at `points` candles of the data's second half (the
    most any of them needs). None: the data is too short to tell."""
    h, lo, c = (np.asarray(candles[k], dtype=float) for k in ("h", "l", "c"))
    n = len(c)
    full = compute_arrays(h, lo, c, params)
    evals = np.linspace(n // 2, n - 1, points).astype(int) if n > 2 else []
    memo: dict = {}

    def value(e: int, w: int) -> dict:
        if (e, w) not in memo:
            memo[(e, w)] = {k: v[-1] for k, v in
                            compute_arrays(h[e - w:e + 1], lo[e - w:e + 1], c[e - w:e + 1],
                                           params).items()}
        return memo[(e, w)]

    def close_enough(f: str, e: int, w: int) -> bool:
        v, want = value(e, w)[f], full[f][e]
        return bool(np.isnan(want) or (not np.isnan(v) and abs(v - want) <= tol))

    out: dict[str, int | None] = {}
    for f in FIELDS:
        need = 0
        for e in evals:
            if not close_enough(f, e, e):
                continue
            a, b = 0, e                 # the fewest w in (a, b] with every w >= it close enough
            while b - a > 1:
                mid = (a + b) // 2
                if close_enough(f, e, mid):
                    b = mid
                else:
                    a = mid
            need = max(need, b)
        out[f] = int(need) if len(evals) and need < n // 2 else None
    return out
