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
  indicator is unchanged when all prices are scaled by the same factor.
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
The Wilder recursions run blocked (64 rows at a time through one matrix product, carries between
blocks), so the cost is a few passes over the column, not a Python loop over rows.
"""

from __future__ import annotations

import numpy as np
import orjson

from .errors import BadInput
from .params import IndicatorParams

OUTPUT_COLUMNS = ("t", "close", "z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")


# rolling mean and population std, exact per window ------------------------------------------------

_CHUNK = 1 << 16


def rolling_mean_std(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """SMA(n) and population std(n), each window summed on its own (two-pass), so a value
    never depends on rows before its window, nor on float error carried along the column."""
    size = len(x)
    mean = np.full(size, np.nan)
    std = np.full(size, np.nan)
    if size < n:
        return mean, std
    win = np.lib.stride_tricks.sliding_window_view(x, n)
    for lo in range(0, len(win), _CHUNK):
        w = win[lo:lo + _CHUNK]
        m = w.mean(axis=1)
        d = w - m[:, None]
        mean[n - 1 + lo:n - 1 + lo + len(w)] = m
        std[n - 1 + lo:n - 1 + lo + len(w)] = np.sqrt(np.einsum("ij,ij->i", d, d) / n)
    return mean, std


# linear recursions, blocked --------------------------------------------------------------------

_BLOCK = 64


def recurse(x: np.ndarray, a: float, y0: float) -> np.ndarray:
    """y[i] = a * y[i-1] + x[i] with y[-1] = y0, for 0 < a < 1.

    Rows are taken 64 at a time: inside a block, one product with the lower-triangular matrix
    of powers of a; between blocks, the carry a^(j+1) * y_end of the previous block.
    """
    n = len(x)
    if n == 0:
        return np.empty(0)
    m = -(-n // _BLOCK)
    xb = np.zeros(m * _BLOCK)
    xb[:n] = x
    xb = xb.reshape(m, _BLOCK)
    powers = a ** np.arange(_BLOCK + 1)
    j, k = np.indices((_BLOCK, _BLOCK))
    lower = np.where(k <= j, powers[np.abs(j - k)], 0.0)
    local = xb @ lower.T
    ends = np.empty(m)
    carry = y0
    aB = powers[_BLOCK]
    last = local[:, -1]
    for b in range(m):
        carry = aB * carry + last[b]
        ends[b] = carry
    starts = np.r_[y0, ends[:-1]]
    y = local + starts[:, None] * powers[1:][None, :]
    return y.reshape(-1)[:n]


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
    out = np.full(size, np.nan)
    if size <= n:
        return out
    diff = np.diff(close)
    gain = np.where(diff > 0, diff, 0.0)
    loss = np.where(diff < 0, -diff, 0.0)
    a = (n - 1) / n
    g = np.empty(size - n)
    l = np.empty(size - n)
    g[0] = gain[:n].sum() / n
    l[0] = loss[:n].sum() / n
    g[1:] = recurse(gain[n:] / n, a, g[0])
    l[1:] = recurse(loss[n:] / n, a, l[0])
    total = g + l
    with np.errstate(invalid="ignore", divide="ignore"):
        out[n:] = np.where(total > 0, 100.0 * g / total, 0.0)
    return out


# ADX -------------------------------------------------------------------------------------------

def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    size = len(close)
    out = np.full(size, np.nan)
    if size < 2 * n:
        return out
    up = high[1:] - high[:-1]
    down = low[:-1] - low[1:]
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    mdm = np.where((down > up) & (down > 0), down, 0.0)
    prev_c = close[:-1]
    tr = np.maximum.reduce([high[1:] - low[1:], np.abs(high[1:] - prev_c), np.abs(low[1:] - prev_c)])
    # Wilder sums: the first n - 1 bars added up, then S = S - S/n + x from bar n on.
    a = 1.0 - 1.0 / n
    sp = recurse(pdm[n - 1:], a, pdm[:n - 1].sum())
    sm = recurse(mdm[n - 1:], a, mdm[:n - 1].sum())
    st = recurse(tr[n - 1:], a, tr[:n - 1].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        pdi = 100.0 * sp / st
        mdi = 100.0 * sm / st
        total = pdi + mdi
        dx = 100.0 * np.abs(pdi - mdi) / total
    undefined = (st == 0) | (total == 0) | ~np.isfinite(dx)
    # dx[k] belongs to bar n + k. ADX at bar 2n - 1 is the mean of the first n DX, an undefined
    # DX counting as 0 as in TA-Lib; after that undefined bars hold the ADX.
    seed = np.where(undefined[:n], 0.0, dx[:n]).sum() / n
    rest = np.where(undefined[n:], 0.0, dx[n:] / n)
    out[2 * n - 1] = seed
    out[2 * n:] = _recurse_with_holds(rest, a, seed, undefined[n:])
    return out


# Hurst -----------------------------------------------------------------------------------------

def hurst_lags(window: int) -> np.ndarray:
    """Lags from 1 to a quarter of the window, spaced evenly in log."""
    top = max(2, window // 4)
    return np.unique(np.round(np.geomspace(1, top, 10)).astype(int))


def hurst(close: np.ndarray, window: int = 100) -> np.ndarray:
    """Rolling Hurst exponent of log prices (mean-squared-displacement estimator, see above)."""
    size = len(close)
    out = np.full(size, np.nan)
    if size < window:
        return out
    x = np.log(close)
    lags = hurst_lags(window)
    logtau = np.log(lags)
    wts = (logtau - logtau.mean()) / ((logtau - logtau.mean()) ** 2).sum()
    slope = np.zeros(size - window + 1)
    bad = np.zeros(size - window + 1, dtype=bool)
    for tau, w in zip(lags, wts):
        d2 = (x[tau:] - x[:-tau]) ** 2
        # windows ending at rows window-1 .. size-1 hold window - tau displacements each
        cs = np.r_[0.0, np.cumsum(d2)]
        k = window - tau
        sums = cs[k:] - cs[:-k]
        msd = sums / k
        bad |= ~(msd > 0)
        with np.errstate(divide="ignore"):
            slope += w * np.log(msd)
    out[window - 1:] = np.where(bad, np.nan, slope / 2.0)
    return out


# the frame -------------------------------------------------------------------------------------

def compute_arrays(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                   params: IndicatorParams = IndicatorParams()) -> dict[str, np.ndarray]:
    """The indicator columns (OUTPUT_COLUMNS but t) of one series, from float arrays."""
    mid, sd = rolling_mean_std(close, params.bb_window)
    if params.z_window == params.bb_window:
        zmid, zsd = mid, sd
    else:
        zmid, zsd = rolling_mean_std(close, params.z_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(zsd > 0, (close - zmid) / zsd, np.nan)
    return {"close": close, "z": z, "bb_mid": mid, "bb_upper": mid + params.bb_k * sd,
            "bb_lower": mid - params.bb_k * sd, "rsi": rsi(close, params.rsi_period),
            "adx": adx(high, low, close, params.adx_period),
            "hurst": hurst(close, params.hurst_window)}


def compute(candles, params: IndicatorParams = IndicatorParams()):
    """A pandas DataFrame of candles (t, o, h, l, c, v; one symbol and timeframe, in time order)
    to a DataFrame of t and the indicators, NaN while warming up."""
    import pandas as pd   # only here: the stage itself runs on numpy and starts faster without

    cols = compute_arrays(candles["h"].to_numpy(dtype=float), candles["l"].to_numpy(dtype=float),
                          candles["c"].to_numpy(dtype=float), params)
    return pd.DataFrame({"t": candles["t"].to_numpy(), **cols})


# the stage's batch: candles of several series, interleaved, to indicators lines ------------------

_TEMPLATE = (b'{"type":"indicators","v":1,"symbol":%s,"tf":%s,"t":%s,"close":%s,"z":%s,'
             b'"bb_mid":%s,"bb_upper":%s,"bb_lower":%s,"rsi":%s,"adx":%s,"hurst":%s}\n')


def series_groups(symbol: list[str], tf: list[str]) -> dict[tuple[str, str], np.ndarray]:
    """Positions (within the candles) of each (symbol, tf) series, in input order."""
    keys = list(zip(symbol, tf))
    if len(set(keys)) <= 1:
        return {keys[0]: np.arange(len(keys))} if keys else {}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return {k: np.array(v) for k, v in groups.items()}


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
    for bad, field, what in ((bad_h, "h", "at least max(o, c)"), (bad_l, "l", "at most min(o, c)")):
        if len(bad):
            i = idx[bad[0]]
            line = batch.candle_rows[i] + 1
            raise BadInput(f'{prefix}line {line}: field "{field}": expected {what}, got '
                                f'{cols[field][i]!r}', line=int(line), field=field)


def render(batch, params: IndicatorParams, source: str = "") -> list[bytes]:
    """Every input line in order: each candle replaced by its indicators line, others as they are."""
    from . import records

    prefix = f"{source}: " if source else ""
    out = list(batch.lines)
    cols = batch.cols
    for key, idx in series_groups(batch.symbol, batch.tf).items():
        check_candles(batch, idx, key, prefix)
        res = compute_arrays(cols["h"][idx], cols["l"][idx], cols["c"][idx], params)
        res["t"] = cols["t"][idx]
        sym = orjson.dumps(key[0])
        tf = orjson.dumps(key[1])
        strs = [records.number_strings(res[k]) for k in OUTPUT_COLUMNS]
        lines = [_TEMPLATE % (sym, tf, *vals) for vals in zip(*strs)]
        rows = batch.candle_rows[idx]
        if len(rows) == len(out):
            out = lines
        else:
            for r, line in zip(rows.tolist(), lines):
                out[r] = line
    return out
