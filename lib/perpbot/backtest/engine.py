"""The backtest: one symbol's candles replayed through the functions the live stages use.

Indicators are computed once over the whole frame (a value at candle i uses candles up to i
only); then candle by candle the account model of execution/account.py (a Simulator) takes the
signal (signals.decide with the position, under the regime in force at the close) through
risk.gate exactly as emit-signals and risk-gate decide live; see that module for the order of
events within a candle.

Fills go through execution.costs: maker at mid (the candle's price) for entries and ordinary
exits, taker for stop exits, adverse slippage seeded by the order's cloid, and hourly funding by
side for every hour boundary crossed while open (a missing hour counts as zero and is counted).
A position still open at the end closes at the last close as `backtest_end`.

The same Simulator is what `risk-gate --replay` runs over a stream of signals, so a backtest run
as a pipe gives the same trades (the pipe's signals carry the decision for each position state,
since emit-signals cannot see the fills downstream).
"""

from __future__ import annotations

import numpy as np

from .. import risk, signals
from ..execution import costs
from ..execution.account import Result, Simulator, exchange_stop_price, mark_function
from ..indicators import compute_arrays
from ..params import StrategyParams
from ..regime import RegimeBook
from ..timeutil import interval_ms

FIELDS = ("close", "z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")


Setup = StrategyParams          # everything a run depends on besides its data


def run(symbol: str, tf: str, candles: dict, funding_rows, book: RegimeBook, setup: Setup,
        sz_decimals: int, fast: bool = True, trade_from: int | None = None,
        indicators: dict | None = None) -> Result:
    """A backtest of one symbol. `candles` holds numpy columns t, o, h, l, c in time order.

    With `fast`, candles on which nothing can happen are not stepped one by one: while flat
    with no entry pending, the next candle whose z clears the lowest entry threshold of any
    regime with RSI on the same side and ADX (and Hurst, gated) below its limit; while in a
    position, the next candle that could trigger any exit (its range past
    the exchange stop, its close past the capital stop, the timeout, z past the widest
    take-profit band or the z-stop). Both are supersets of what the Simulator would act on, so
    the trades are the same as stepping every candle (a test holds it to that).

    `trade_from` (ms): candles before it only warm the indicators up (walk-forward windows).
    `indicators`: precomputed compute_arrays of these candles (a sweep varying no indicator
    parameter computes them once).
    """
    iv = interval_ms(tf)
    t, o, h, lo, c = (np.asarray(candles[k]) for k in ("t", "o", "h", "l", "c"))
    t = t.astype(np.int64)
    n = len(t)
    ind = indicators if indicators is not None else compute_arrays(
        h.astype(float), lo.astype(float), c.astype(float), setup.indicators)
    sim = Simulator(symbol, tf, setup, sz_decimals, costs.hourly_rates(funding_rows),
                    mark_function(t + iv, c))
    thresholds: dict[str, signals.Thresholds] = {}
    sp, rp, bt = setup.signals, setup.risk, setup.backtest
    z = ind["z"]
    with np.errstate(invalid="ignore"):
        entry_candidates = np.flatnonzero(signals.entry_screen(z, ind["rsi"], ind["adx"],
                                                               ind["hurst"], sp))
        could_close = {side: signals.exit_screen(z, side, sp) for side in ("long", "short")}
    closes_at = t + iv
    tl, ol, hl, ll, cl = (a.tolist() for a in (t, o, h, lo, c))
    cols = {k: ind[k] for k in FIELDS}

    def step(i: int) -> None:
        level = book.at(tl[i] + iv)[0]
        th = thresholds.get(level) or thresholds.setdefault(level, signals.thresholds(sp, level))
        row = {k: float(cols[k][i]) for k in FIELDS}
        sim.candle(tl[i], ol[i], hl[i], ll[i], cl[i], level,
                   lambda side: signals.decide(row, side, th, sp))

    def next_exit(i: int) -> int:
        """The first candle from i on that could close the open position."""
        p = sim.pos
        long = p.side == "long"
        stop = exchange_stop_price(p.side, p.price, bt.exchange_stop_pct)
        cap = risk.capital_stop_distance(sim.state.equity, p.size, rp)
        timeout = int(np.searchsorted(closes_at, risk.timeout_at(p.t, rp), side="left"))
        end = min(n, max(timeout, i) + 1)
        a, span = i, 16
        while a < end:
            b = min(end, a + span)
            with np.errstate(invalid="ignore"):
                if long:
                    hit = (lo[a:b] <= stop) | (c[a:b] <= p.price - cap)
                else:
                    hit = (h[a:b] >= stop) | (c[a:b] >= p.price + cap)
                hit |= could_close[p.side][a:b]
            k = np.flatnonzero(hit)
            if len(k):
                return a + int(k[0])
            a, span = b, span * 4
        return min(timeout, n)

    i = int(np.searchsorted(t, trade_from)) if trade_from is not None else 0
    if i:
        sim.prev_t = tl[i - 1]
    while i < n:
        if fast and sim.pending is None:
            if sim.pos is None:
                k = int(np.searchsorted(entry_candidates, i))
                j = int(entry_candidates[k]) if k < len(entry_candidates) else n
            else:
                j = next_exit(i)
            if j > i:
                sim.skip(t[i:j], c[i:j])
                i = j
                if i >= n:
                    break
        step(i)
        i += 1
    if n:
        sim.finish(tl[-1], cl[-1])
    res = sim.result()
    res.regime_note = "no regime snapshots: the run is NORMAL throughout" if book.empty else ""
    return res
