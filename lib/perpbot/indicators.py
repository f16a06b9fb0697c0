"""Indicators over whole columns (numpy), one symbol and timeframe at a time.

Definitions follow TA-Lib's, so they can be checked against it:
- z-score: (close - SMA(n)) / population std(n) of the closes.
- Bollinger Bands: SMA(n) +/- k population std(n) (TA-Lib BBANDS, MA type SMA).
- RSI: Wilder's. Average gain and loss seeded with the mean of the first n changes, then
  avg = (avg * (n - 1) + x) / n; RSI = 100 avg_gain / (avg_gain + avg_loss), 0 when both are 0.
- ADX: Wilder's. +DM/-DM and true range summed over the first n - 1 bars, then smoothed
  S = S - S/n + x; DX = 100 |+DI - -DI| / (+DI + -DI); ADX seeded with the mean of the first n DX,
  then ADX = (ADX (n - 1) + DX) / n, held unchanged on a bar whose DX is undefined.
  One deliberate difference: TA-Lib treats any |value| < 1e-8 as zero (an absolute threshold that
  misreads low-priced coins such as 3e-5 BTC pairs); here only an exact zero is zero, so every
  indicator is unchanged when all prices are scaled by the same factor. (+DI and -DI share the
  true range as denominator, so DX = 100 |S+ - S-| / (S+ + S-) without dividing by it.)
- Hurst exponent: the scaling of the mean squared displacement of log prices over a rolling
  window. For lags tau, MSD(tau) = mean over the window of (x[s] - x[s - tau])^2; MSD grows as
  tau^(2H), so H is half the least-squares slope of log MSD against log tau. A random walk gives
  H near 0.5, a mean-reverting series less, a trending (persistent) one more. The displacement is
  not de-meaned, so a drift counts as persistence, which is what a mean-reversion gate must see.

Every value at row t uses rows up to t only. Rows before an indicator is defined are NaN.

z, the bands and Hurst depend only on their window, so any input that holds the window gives the
same value. Wilder's recursions remember every row, with weight (1 - 1/n)^k for a row k back:
fed only the latest 300 candles, ADX(14) still differs from its full-history value by up to
~4e-8 relative (RSI ~1.5e-9); 400 candles bring both under 1e-10. That is why the trade loop
feeds `indicators.window` = 400 candles, not 300.
The Wilder recursions run blocked (16 rows at a time through one matrix product, carries between
blocks solved the same way), so the cost is a few passes over the column, not a Python loop.
"""

from __future__ import annotations

import numpy as np
import orjson

from . import records
from .errors import BadInput
from .params import IndicatorParams

OUTPUT_COLUMNS = ("t", "close", "z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")


# Every indicator runs over the column in chunks of CHUNK rows: the temporaries of a chunk stay in
# the CPU cache, where whole-column temporaries (8 MB each for 1M rows) would be written to fresh
# memory pass after pass. Finite-window indicators take each chunk with the rows before it that
# its first window needs; the Wilder recursions carry their state from chunk to chunk.
CHUNK = 1 << 15


def _nan_until(size: int, first: int) -> np.ndarray:
    """An output column: NaN before row `first`, the rest left for the caller to fill."""
    out = np.empty(size)
    out[:min(first, size)] = np.nan
    return out


def _chunks(first: int, size: int):
    for lo in range(first, size, CHUNK):
        yield lo, min(lo + CHUNK, size)


# rolling mean and population std, exact per window ------------------------------------------------

def _combine(ma, qa, mb, qb, na: int, nb: int):
    """Mean and sum of squared deviations of two adjacent groups (Chan, Golub and LeVeque):
    stable, and exactly zero spread when both groups hold one repeated value."""
    d = mb - ma
    mean = d * (nb / (na + nb))
    mean += ma
    q = qa + qb
    d *= d
    d *= na * nb / (na + nb)
    q += d
    return mean, q


def _mean_std_into(x: np.ndarray, n: int, mean: np.ndarray, std: np.ndarray) -> None:
    """Mean and population std of every window of n inside x, written to mean and std
    (len(x) - n + 1 each). Windows of 2, 4, 8, ... are merged from halves, then the binary
    pieces of n are merged, each window always the same way wherever it sits."""
    levels = {1: (x, np.zeros(len(x)))}       # [j] is the window ending at x[j + size - 1]
    size = 1
    while size * 2 <= n:
        m, q = levels[size]
        levels[2 * size] = _combine(m[:-size], q[:-size], m[size:], q[size:], size, size)
        size *= 2
    # n = size + rest: the window ending at e is the `rest` piece ending at e - size, then the
    # `size` piece ending at e.
    count = len(x) - n + 1
    m, q = levels[size]
    m, q = m[n - size:n - size + count], q[n - size:n - size + count]
    got = size
    piece = size // 2
    while got < n:                                       # the binary digits of n - size
        if (n - size) & piece:
            pm, pq = levels[piece]
            start = n - got - piece                      # that piece's window, in its level
            m, q = _combine(pm[start:start + count], pq[start:start + count], m, q, piece, got)
            got += piece
        piece //= 2
    mean[:] = m
    q /= n
    np.sqrt(q, out=std)


# linear recursions, blocked --------------------------------------------------------------------

_BLOCK = 16


def recurse(x: np.ndarray, a: float, y0) -> np.ndarray:
    """y[i] = a * y[i-1] + x[i] with y[-1] = y0, for 0 <= a < 1, along the last axis.

    x may be 2-D, one series a row (y0 a scalar or one value a row). Rows are taken 16 at a
    time: inside a block the recursion runs from zero, position by position across every block
    at once; each block then adds its start times a^(j+1), and the starts are the same
    recursion over the blocks' last values (factor a^16), solved by this function again.

    A value depends only on the values before it, by operations fixed by its position: the same
    bits whatever follows it (a prefix of the data gives the prefix of the result; no matrix
    product, whose kernels can round a row differently with the matrix's size).
    """
    x = np.asarray(x, dtype=float)
    flat = x.ndim == 1
    x2 = x[None, :] if flat else x
    rows, n = x2.shape
    if n == 0:
        return np.empty(x.shape)
    y0 = np.asarray(y0, dtype=float) * np.ones(rows)
    m = -(-n // _BLOCK)
    xb = np.zeros((rows, m * _BLOCK))
    xb[:, :n] = x2
    local = np.ascontiguousarray(xb.reshape(rows, m, _BLOCK).transpose(0, 2, 1))   # [r, j, b]
    for j in range(1, _BLOCK):
        local[:, j] += a * local[:, j - 1]
    powers = _powers(a)
    starts = np.empty((rows, m))
    starts[:, 0] = y0
    if m > 1:
        starts[:, 1:] = recurse(local[:, -1, :-1], powers[_BLOCK], y0)
    local += starts[:, None, :] * powers[1:, None]
    y = local.transpose(0, 2, 1).reshape(rows, m * _BLOCK)[:, :n]
    return y[0] if flat else y


_POWERS: dict[float, np.ndarray] = {}


def _powers(a: float) -> np.ndarray:
    """a^0..a^16."""
    if a not in _POWERS:
        _POWERS[a] = a ** np.arange(_BLOCK + 1)
    return _POWERS[a]


def _recurse_with_holds(x: np.ndarray, a: float, y0: float, hold: np.ndarray) -> np.ndarray:
    """As `recurse`, but y[i] = y[i-1] wherever hold[i]: run segment by segment."""
    if not hold.any():
        return recurse(x, a, y0)
    y = np.empty(len(x))
    prev = y0
    i = 0
    for h in np.flatnonzero(hold):
        if h > i:
            y[i:h] = recurse(x[i:h], a, prev)
            prev = y[h - 1]
        y[h] = prev
        i = h + 1
    if i < len(x):
        y[i:] = recurse(x[i:], a, prev)
    return y


# RSI -------------------------------------------------------------------------------------------

def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    size = len(close)
    out = _nan_until(size, n)
    if size <= n:
        return out
    a = (n - 1) / n
    first = np.diff(close[:n + 1])
    g = np.maximum(first, 0.0).sum() / n
    lo_ = np.maximum(-first, 0.0).sum() / n
    _rsi_value(np.array([g]), np.array([lo_]), out[n:n + 1])
    for lo, hi in _chunks(n + 1, size):
        diff = np.diff(close[lo - 1:hi])
        moves = np.empty((2, hi - lo))
        np.maximum(diff, 0.0, out=moves[0])           # gains
        np.negative(diff, out=diff)
        np.maximum(diff, 0.0, out=moves[1])           # losses
        moves /= n
        gs, ls = recurse(moves, a, (g, lo_))
        g, lo_ = gs[-1], ls[-1]
        _rsi_value(gs, ls, out[lo:hi])
    return out


def _rsi_value(g: np.ndarray, l: np.ndarray, out: np.ndarray) -> None:
    total = g + l
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(g, total, out=out)
    out *= 100.0
    if not total.all():
        out[total == 0] = 0.0                    # no movement at all: TA-Lib's 0


# ADX -------------------------------------------------------------------------------------------

def _directional(high, low, close) -> np.ndarray:
    """Rows +DM, -DM and true range of bars 1..len-1 (each against the bar before)."""
    out = np.empty((3, len(close) - 1))
    up = high[1:] - high[:-1]
    down = low[:-1] - low[1:]
    np.maximum(up, 0.0, out=out[0])                  # +DM: the up move if it is the larger
    out[0] *= up > down
    np.maximum(down, 0.0, out=out[1])                # -DM: the down move if it is the larger
    out[1] *= down > up
    prev_c = close[:-1]
    hi, lo = high[1:], low[1:]
    tr = out[2]
    np.subtract(hi, lo, out=tr)
    np.maximum(tr, np.abs(hi - prev_c), out=tr)
    np.maximum(tr, np.abs(lo - prev_c), out=tr)
    return out


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    size = len(close)
    out = _nan_until(size, 2 * n - 1)
    if size < 2 * n:
        return out
    a = 1.0 - 1.0 / n
    # Wilder sums: bars 1..n-1 added up, then S = S - S/n + x from bar n on.
    state = _directional(high[:n], low[:n], close[:n]).sum(axis=1)

    def dx_of(lo, hi):
        """DX of bars lo..hi-1 (lo >= n), advancing the Wilder sums; NaN where undefined."""
        dm = _directional(high[lo - 1:hi], low[lo - 1:hi], close[lo - 1:hi])
        sp, sm, st = recurse(dm, a, state)
        state[:] = (sp[-1], sm[-1], st[-1])
        dsum = sp + sm                    # +DI + -DI over 100/TR: the true range cancels
        dx = np.subtract(sp, sm)
        np.abs(dx, out=dx)
        with np.errstate(invalid="ignore", divide="ignore"):
            dx /= dsum
        dx *= 100.0
        if dsum.all() and st.all():
            return dx, None
        return dx, (st == 0) | (dsum == 0)

    # ADX at bar 2n - 1 is the mean of DX over bars n..2n-1, an undefined DX counting as 0 (as
    # TA-Lib); after that ADX = ADX - ADX/n + DX/n, held where DX is undefined.
    dx, undefined = dx_of(n, 2 * n)
    if undefined is not None:
        dx[undefined] = 0.0
    level = dx.sum() / n
    out[2 * n - 1] = level
    for lo, hi in _chunks(2 * n, size):
        dx, undefined = dx_of(lo, hi)
        dx /= n
        if undefined is None:
            vals = recurse(dx, a, level)
        else:
            dx[undefined] = 0.0
            vals = _recurse_with_holds(dx, a, level, undefined)
        level = vals[-1]
        out[lo:hi] = vals
    return out


# Hurst -----------------------------------------------------------------------------------------

def hurst_lags(window: int) -> np.ndarray:
    """Lags from 1 to a quarter of the window, spaced evenly in log."""
    top = max(2, window // 4)
    return np.unique(np.round(np.geomspace(1, top, 10)).astype(int))


def hurst(close: np.ndarray, window: int = 100) -> np.ndarray:
    """Rolling Hurst exponent of log prices (mean-squared-displacement estimator, see above)."""
    size = len(close)
    out = _nan_until(size, window - 1)
    if size < window:
        return out
    lags = hurst_lags(window)
    logtau = np.log(lags)
    wts = (logtau - logtau.mean()) / ((logtau - logtau.mean()) ** 2).sum() / 2.0
    for lo, hi in _chunks(window - 1, size):
        x = np.log(close[lo - window + 1:hi])
        slope = np.zeros(hi - lo)
        bad = np.zeros(hi - lo, dtype=bool)
        for tau, w in zip(lags, wts):
            d2 = x[tau:] - x[:-tau]
            d2 *= d2
            # the window ending at row r holds window - tau displacements
            k = window - tau
            cs = np.empty(len(d2) + 1)
            cs[0] = 0.0
            np.cumsum(d2, out=cs[1:])
            msd = cs[k:] - cs[:-k]
            bad |= ~(msd > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                np.log(msd, out=msd)
                msd *= w
                slope += msd
        slope[bad] = np.nan
        out[lo:hi] = slope
    return out


# the frame -------------------------------------------------------------------------------------

def bands(close: np.ndarray, p: IndicatorParams) -> dict[str, np.ndarray]:
    """z, bb_mid, bb_upper and bb_lower, chunk by chunk (z is NaN where the std is 0)."""
    size = len(close)
    out = {k: _nan_until(size, p.bb_window - 1) for k in ("bb_mid", "bb_upper", "bb_lower")}
    out["z"] = _nan_until(size, p.z_window - 1)
    m = np.empty(CHUNK)
    sd = np.empty(CHUNK)
    for lo, hi in _chunks(p.bb_window - 1, size):
        k = hi - lo
        _mean_std_into(close[lo - p.bb_window + 1:hi], p.bb_window, m[:k], sd[:k])
        out["bb_mid"][lo:hi] = m[:k]
        np.multiply(sd[:k], p.bb_k, out=out["bb_upper"][lo:hi])
        np.subtract(m[:k], out["bb_upper"][lo:hi], out=out["bb_lower"][lo:hi])
        out["bb_upper"][lo:hi] += m[:k]
        if p.z_window == p.bb_window:
            _z_into(close[lo:hi], m[:k], sd[:k], out["z"][lo:hi])
    if p.z_window != p.bb_window:
        for lo, hi in _chunks(p.z_window - 1, size):
            k = hi - lo
            _mean_std_into(close[lo - p.z_window + 1:hi], p.z_window, m[:k], sd[:k])
            _z_into(close[lo:hi], m[:k], sd[:k], out["z"][lo:hi])
    return out


def _z_into(close, mean, std, out) -> None:
    np.subtract(close, mean, out=out)
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= std
    out[std == 0] = np.nan                # a flat window has no z


def compute_arrays(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                   params: IndicatorParams = IndicatorParams(),
                   cache: dict | None = None) -> dict[str, np.ndarray]:
    """The indicator columns (OUTPUT_COLUMNS but t) of one series, from float arrays.
    `cache`: a dict the caller keeps for this one series across parameter sets (a sweep): each
    indicator is computed once per set of its own parameters (a sweep of bb_k computes RSI,
    ADX and Hurst once)."""
    high, low, close = (np.ascontiguousarray(v, dtype=float) for v in (high, low, close))
    p = params
    if cache is None:
        cache = {}

    def once(key, make):
        if key not in cache:
            cache[key] = make()
        return cache[key]

    return {"close": close,
            **once(("bands", p.z_window, p.bb_window, p.bb_k), lambda: bands(close, p)),
            "rsi": once(("rsi", p.rsi_period), lambda: rsi(close, p.rsi_period)),
            "adx": once(("adx", p.adx_period), lambda: adx(high, low, close, p.adx_period)),
            "hurst": once(("hurst", p.hurst_window), lambda: hurst(close, p.hurst_window))}


def compute(candles, params: IndicatorParams = IndicatorParams()):
    """A pandas DataFrame of candles (t, o, h, l, c, v; one symbol and timeframe, in time order)
    to a DataFrame of t and the indicators, NaN while warming up."""
    import pandas as pd   # only here: the stage itself runs on numpy and starts faster without

    cols = compute_arrays(candles["h"].to_numpy(dtype=float), candles["l"].to_numpy(dtype=float),
                          candles["c"].to_numpy(dtype=float), params)
    return pd.DataFrame({"t": candles["t"].to_numpy(), **cols})


# the stage's batch: candles of several series, interleaved, to indicators lines ------------------

_VALUES = ("open", "high", "low", "close", "z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx",
           "hurst")
_ROW_TAIL = (b',"t":%s,"open":%s,"high":%s,"low":%s,"close":%s,"z":%s,"bb_mid":%s,"bb_upper":%s,'
             b'"bb_lower":%s,"rsi":%s,"adx":%s,"hurst":%s}\n')
_OUT_ROWS = 512


def check_candles(batch, idx: np.ndarray, key, prefix: str = "") -> None:
    """Time order within a series, and highs and lows that contain the open and close."""
    cols = batch.cols
    t = cols["t"][idx]
    back = np.flatnonzero(np.diff(t) <= 0)
    if len(back):
        line = batch.candle_rows[idx[back[0] + 1]] + 1
        raise BadInput(f'{prefix}line {line}: field "t": candles of {key[0]} {key[1]} must '
                       f'be in time order without repeats ({t[back[0] + 1]} after {t[back[0]]})',
                       line=int(line), field="t")
    o, h, l, c = (cols[k][idx] for k in ("o", "h", "l", "c"))
    bad_h = np.flatnonzero(h < np.maximum(o, c))
    bad_l = np.flatnonzero(l > np.minimum(o, c))
    for bad, field in ((bad_h, "h"), (bad_l, "l")):
        if len(bad):
            i = idx[bad[0]]
            line = batch.candle_rows[i] + 1
            raise BadInput(f"{prefix}line {line}: {records.ohlc_error(field, cols[field][i])}",
                           line=int(line), field=field)


def _format(res: dict, t: np.ndarray, row: bytes, lo: int, hi: int) -> bytes:
    """Indicators lines of rows lo..hi of one series, as one block of text: each column is
    serialised at once, then one %-format fills the series' line template for every row."""
    from . import columns

    n = hi - lo
    width = 1 + len(_VALUES)
    args: list = [None] * (width * n)
    args[0::width] = columns.int_texts(t[lo:hi])
    for j, k in enumerate(_VALUES):
        args[1 + j::width] = columns.number_texts(res[k][lo:hi])
    return (row * n) % tuple(args)


def _row_template(symbol: str, tf: str) -> bytes:
    """The indicators line of one series, with %s for t and each value."""
    def text(s: str) -> bytes:
        return orjson.dumps(s).replace(b"%", b"%%")
    return b'{"type":"indicators","v":1,"symbol":' + text(symbol) + b',"tf":' + text(tf) + _ROW_TAIL


def render(batch, params: IndicatorParams, source: str = ""):
    """Blocks of output text: every input line in order, each candle replaced by its indicators
    line, other records as they came."""
    prefix = f"{source}: " if source else ""
    cols = batch.cols
    done = []
    for sid, key in enumerate(batch.series):
        idx = (np.arange(len(batch.series_id)) if len(batch.series) == 1
               else np.flatnonzero(batch.series_id == sid))
        check_candles(batch, idx, key, prefix)
        res = compute_arrays(cols["h"][idx], cols["l"][idx], cols["c"][idx], params)
        res.update(open=cols["o"][idx], high=cols["h"][idx], low=cols["l"][idx])
        done.append((idx, res, cols["t"][idx], _row_template(*key)))
    n_lines = batch.n_lines
    if len(done) == 1 and len(batch.candle_rows) == n_lines:
        idx, res, t, row = done[0]
        for lo in range(0, n_lines, _OUT_ROWS):
            yield _format(res, t, row, lo, min(lo + _OUT_ROWS, n_lines))
        return
    out: list = [None] * n_lines
    for r, raw in batch.others.items():
        out[r] = raw
    for idx, res, t, row in done:
        rows = batch.candle_rows[idx].tolist()
        for lo in range(0, len(idx), _OUT_ROWS):
            hi = min(lo + _OUT_ROWS, len(idx))
            lines = _format(res, t, row, lo, hi).splitlines(keepends=True)
            for r, line in zip(rows[lo:hi], lines):
                out[r] = line
    for lo in range(0, n_lines, _OUT_ROWS):
        yield b"".join(out[lo:lo + _OUT_ROWS])
