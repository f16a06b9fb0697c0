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
from ..execution.account import Account, Result, Simulator, exchange_stop_price, mark_function
from ..indicators import compute_arrays
from ..params import StrategyParams
from ..regime import RegimeBook
from ..timeutil import interval_ms

FIELDS = ("close", "z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")


Setup = StrategyParams          # everything a run depends on besides its data


class _Symbol:
    """One symbol's run: its columns, indicators, Simulator, and where its next possible event is."""

    def __init__(self, symbol, tf, candles, funding_rows, book, setup, sz_decimals, fast,
                 trade_from, indicators, account):
        self.iv = iv = interval_ms(tf)
        t = np.asarray(candles["t"]).astype(np.int64, copy=False)
        o, h, lo, c = (np.asarray(candles[k]).astype(float, copy=False) for k in "ohlc")
        self.t, self.h, self.lo, self.c = t, h, lo, c
        self.n = len(t)
        self.closes_at = t + iv
        ind = indicators if indicators is not None else compute_arrays(
            h, lo, c, setup.indicators)
        self.sim = Simulator(symbol, tf, setup, sz_decimals, costs.hourly_rates(funding_rows),
                             mark_function(self.closes_at, c), account)
        self.book, self.setup, self.fast = book, setup, fast
        self.thresholds: dict[str, signals.Thresholds] = {}
        sp = setup.signals
        cols = {k: ind[k] for k in FIELDS}
        self._cols = list(cols.items())
        with np.errstate(invalid="ignore"):
            self.entry_candidates = np.flatnonzero(signals.entry_screen(cols, sp))
            self.could_close = {side: signals.exit_screen(ind["z"], side, sp)
                                for side in ("long", "short")}
        self.o = o
        self.i = int(np.searchsorted(self.t, trade_from)) if trade_from is not None else 0
        if self.i:
            self.sim.prev_t = self.t.item(self.i - 1)

    def step(self, i: int) -> None:
        sim, sp = self.sim, self.setup.signals
        t = self.t.item(i)
        level = self.book.at(t + self.iv)[0]
        th = self.thresholds.get(level) or self.thresholds.setdefault(
            level, signals.thresholds(sp, level))
        row = {k: col.item(i) for k, col in self._cols}
        sim.candle(t, self.o.item(i), self.h.item(i), self.lo.item(i), self.c.item(i),
                   level, lambda side: signals.decide(row, side, th, sp))

    def next_event(self) -> int:
        """The first candle from self.i on where something could happen (n: none)."""
        i, sim = self.i, self.sim
        if not self.fast or sim.pending is not None:
            return i
        if sim.pos is None:
            k = int(self.entry_candidates.searchsorted(i))
            return int(self.entry_candidates[k]) if k < len(self.entry_candidates) else self.n
        return self.next_exit(i)

    def next_exit(self, i: int) -> int:
        """The first candle from i on that could close the open position."""
        p, rp, bt = self.sim.pos, self.setup.risk, self.setup.backtest
        lo, h, c = self.lo, self.h, self.c
        long = p.side == "long"
        stop = exchange_stop_price(p.side, p.price, bt.exchange_stop_pct)
        cap = risk.capital_stop_distance(self.sim.state.equity, p.size, rp)
        timeout = int(self.closes_at.searchsorted(risk.timeout_at(p.t, rp), side="left"))
        end = min(self.n, max(timeout, i) + 1)
        a, span = i, 16
        while a < end:
            b = min(end, a + span)
            with np.errstate(invalid="ignore"):
                if long:
                    hit = (lo[a:b] <= stop) | (c[a:b] <= p.price - cap)
                else:
                    hit = (h[a:b] >= stop) | (c[a:b] >= p.price + cap)
                hit |= self.could_close[p.side][a:b]
            k = np.flatnonzero(hit)
            if len(k):
                return a + int(k[0])
            a, span = b, span * 4
        return min(timeout, self.n)

    def advance_to(self, j: int) -> None:
        """Skip to candle j (nothing happens before it) and step it, if there is one."""
        if j > self.i:
            self.sim.skip(self.t[self.i:j], self.c[self.i:j])
        if j < self.n:
            self.step(j)
        self.i = j + 1

    def result(self) -> Result:
        if self.n:
            self.sim.finish(self.t.item(-1), float(self.c[-1]))
        res = self.sim.result()
        res.regime_note = "no regime snapshots: the run is NORMAL throughout" \
            if self.book.empty else ""
        return res


def run(symbol: str, tf: str, candles: dict, funding_rows, book: RegimeBook, setup: Setup,
        sz_decimals: int, fast: bool = True, trade_from: int | None = None,
        indicators: dict | None = None, account: Account | None = None) -> Result:
    """A backtest of one symbol. `candles` holds numpy columns t, o, h, l, c in time order.

    With `fast`, candles on which nothing can happen are not stepped one by one: while flat
    with no entry pending, the next candle that signals.entry_screen lets through (z past the
    lowest entry threshold of any regime, RSI on the same side, the close past the narrowest
    band, ADX and Hurst, gated, below their limits); while in a
    position, the next candle that could trigger any exit (its range past
    the exchange stop, its close past the capital stop, the timeout, z past the widest
    take-profit band or the z-stop). Both are supersets of what the Simulator would act on, so
    the trades are the same as stepping every candle (a test holds it to that).

    `trade_from` (ms): candles before it only warm the indicators up (walk-forward windows).
    `indicators`: precomputed compute_arrays of these candles (a sweep varying no indicator
    parameter computes them once). `account`: the Account it trades on (default its own, with
    the losing-weeks halt; see run_many).
    """
    r = _Symbol(symbol, tf, candles, funding_rows, book, setup, sz_decimals, fast, trade_from,
                indicators, account or Account.shared(setup.risk))
    while r.i < r.n:
        r.advance_to(r.next_event())
    return r.result()


def run_many(tf: str, data: dict, book: RegimeBook, setup: Setup, fast: bool = True,
             trade_from: int | None = None, indicators: dict | None = None,
             separate: bool = False) -> list[Result]:
    """A backtest of several symbols on one account, as the trade loop trades them: one equity
    (sizing, the capital stop), max_positions, the daily loss cap, the cooldown and the
    losing-weeks halt across symbols, candles taken in time order (at the same close, in symbol
    order, as the replay pipe's merged stream has them). `data`: symbol -> (candles, funding
    rows, lot decimals); `indicators`: symbol -> precomputed arrays. With `separate`, each
    symbol runs on its own account (no halt), as round 1 did."""
    if separate:
        return [run(sym, tf, cd, fund, book, setup, n, fast, trade_from,
                    (indicators or {}).get(sym), Account.alone(setup.risk))
                for sym, (cd, fund, n) in data.items()]
    account = Account.shared(setup.risk)
    runs = [_Symbol(sym, tf, cd, fund, book, setup, n, fast, trade_from,
                    (indicators or {}).get(sym), account)
            for sym, (cd, fund, n) in sorted(data.items())]
    while True:
        best, at = None, None
        for r in runs:             # the earliest next event; symbol order breaks a tie
            if r.i < r.n:
                j = r.next_event()
                t = r.t.item(j) if j < r.n else None
                if t is not None and (at is None or t < at):
                    best, at = (r, j), t
        if best is None:
            break
        best[0].advance_to(best[1])
    for r in runs:                 # candles after the last event: equity only
        if r.i < r.n:
            r.advance_to(r.n)
    order = {sym: k for k, sym in enumerate(data)}
    return sorted((r.result() for r in runs), key=lambda res: order[res.symbol])
