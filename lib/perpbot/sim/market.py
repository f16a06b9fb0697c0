"""Markets the simulator serves: from candle files or a seeded synthetic process.

A market holds base candles (the file's interval, or 1m when synthetic) as numpy columns and
hourly funding. Coarser intervals are aggregated from the base on request, aligned to the epoch.
Nothing after the simulator's clock is ever served: the candle that contains `now` comes back as
it stands at `now` (open, the high and low so far, the price now), as the real exchange's
snapshot includes the candle still forming.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from ..timeutil import HOUR_MS, INTERVAL_MS, MINUTE_MS, floor_to

FUNDING_OFFSET_MS = 37          # the exchange stamps funding slightly past the hour
INTEREST_PER_HOUR = 0.0000125   # Hyperliquid's fixed interest component, 0.01% per 8 h


def sz_decimals_for(price: float) -> int:
    """A lot size like the exchange's for a coin at this price (BTC 5, ETH 4, SOL 2, DOGE 0)."""
    if price <= 0:
        return 0
    return int(min(5, max(0, math.floor(math.log10(price)) + 1)))


def _fmt(x: float) -> str:
    return repr(float(x))


@dataclass
class Funding:
    t: np.ndarray
    rate: np.ndarray
    premium: np.ndarray


class Market:
    """Base candles in time order; subclasses may grow them as the clock advances."""

    def __init__(self, coin: str, base_ms: int, t, o, h, l, c, v, n, funding: Funding | None = None):
        self.coin = coin
        self.base_ms = base_ms
        self.t, self.o, self.h, self.l, self.c, self.v, self.n = (
            np.asarray(t, np.int64), np.asarray(o, float), np.asarray(h, float),
            np.asarray(l, float), np.asarray(c, float), np.asarray(v, float), np.asarray(n, np.int64))
        self._funding = funding

    # growth hook -------------------------------------------------------------------------------

    def ensure(self, until_ms: int) -> None:
        """Make sure base candles exist up to `until_ms` (files have what they have)."""

    @property
    def first_ms(self) -> int:
        return int(self.t[0])

    @property
    def end_ms(self) -> int:
        """Close time + 1 of the last base candle: the earliest clock at which all are final."""
        return int(self.t[-1]) + self.base_ms

    @property
    def data_end_ms(self) -> int:
        """The earliest clock at which every candle and funding row of the data is released."""
        f = self.funding()
        return max(self.end_ms, int(f.t[-1]) + 1 if len(f.t) else 0)

    # prices ------------------------------------------------------------------------------------

    def _index_at(self, now: int) -> int:
        """Index of the last base candle with t <= now, or -1."""
        self.ensure(now)
        return int(np.searchsorted(self.t, now, side="right")) - 1

    def price_at(self, now: int) -> float | None:
        """The price at `now`: inside a forming base candle, linear from its open to its close."""
        i = self._index_at(now)
        if i < 0:
            return None
        frac = (now - self.t[i]) / self.base_ms
        if frac >= 1:                       # in a gap after a closed candle: its close holds
            return float(self.c[i])
        return float(self.o[i] + (self.c[i] - self.o[i]) * frac)

    def sz_decimals(self, now: int) -> int:
        p = self.price_at(now)
        return sz_decimals_for(p if p is not None else float(self.c[0]))

    # candles -----------------------------------------------------------------------------------

    def candles(self, interval: str, start: int, end: int, now: int, cap: int) -> list[dict]:
        """candleSnapshot: candles of `interval` with t in [start, end] (the one containing start
        included) and t <= now, oldest first, at most `cap`. Empty for intervals finer than base."""
        iv = INTERVAL_MS[interval]
        if iv < self.base_ms or iv % self.base_ms:
            return []
        end = min(end, now)
        lo_t = floor_to(start, iv)
        self.ensure(now)
        lo = int(np.searchsorted(self.t, lo_t, side="left"))
        hi = int(np.searchsorted(self.t, end if iv == self.base_ms else floor_to(end, iv) + iv - 1,
                                 side="right"))
        hi = min(hi, int(np.searchsorted(self.t, now, side="right")))
        if hi <= lo:
            return []
        t, o, h, l, c, v, n = (a[lo:hi] for a in (self.t, self.o, self.h, self.l, self.c, self.v, self.n))
        c = c.copy()
        h = h.copy()
        l = l.copy()
        v = v.copy()
        # The base candle containing `now` is still forming: show it as it stands at `now`.
        if t[-1] + self.base_ms > now:
            frac = (now - t[-1]) / self.base_ms
            c[-1] = o[-1] + (c[-1] - o[-1]) * frac
            h[-1] = max(o[-1], c[-1])
            l[-1] = min(o[-1], c[-1])
            v[-1] = v[-1] * frac
        if iv != self.base_ms:
            bucket = t - t % iv
            starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
            ends = np.r_[starts[1:], len(t)] - 1
            t = bucket[starts]
            o = o[starts]
            c = c[ends]
            h = np.maximum.reduceat(h, starts)
            l = np.minimum.reduceat(l, starts)
            v = np.add.reduceat(v, starts)
            n = np.add.reduceat(n, starts)
        k = min(len(t), cap)
        out = []
        for i in range(k):
            ti = int(t[i])
            out.append({"t": ti, "T": ti + iv - 1, "s": self.coin, "i": interval,
                        "o": _fmt(o[i]), "c": _fmt(c[i]), "h": _fmt(h[i]), "l": _fmt(l[i]),
                        "v": _fmt(v[i]), "n": int(n[i])})
        return out

    # funding -----------------------------------------------------------------------------------

    def funding(self) -> Funding:
        if self._funding is None:
            self._funding = derive_funding(self)
        return self._funding

    def funding_history(self, start: int, end: int, now: int, cap: int) -> list[dict]:
        self.ensure(now)
        f = self.funding()
        lo = int(np.searchsorted(f.t, start, side="left"))
        hi = int(np.searchsorted(f.t, min(end, now), side="right"))
        hi = min(hi, lo + cap)
        return [{"coin": self.coin, "fundingRate": _fmt(f.rate[i]), "premium": _fmt(f.premium[i]),
                 "time": int(f.t[i])} for i in range(lo, hi)]

    def funding_at(self, now: int) -> float:
        f = self.funding()
        i = int(np.searchsorted(f.t, now, side="right")) - 1
        return float(f.rate[i]) if i >= 0 else INTEREST_PER_HOUR


def derive_funding(m: Market) -> Funding:
    """Hourly funding for a market that has none: the premium is the close's deviation from its
    8-hour mean, the rate premium/8 plus the interest component, capped at 4% an hour."""
    hours = np.arange(floor_to(m.first_ms, HOUR_MS) + HOUR_MS, m.end_ms + 1, HOUR_MS, dtype=np.int64)
    if len(hours) == 0:
        return Funding(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    idx = np.searchsorted(m.t, hours, side="left") - 1
    idx = np.clip(idx, 0, len(m.t) - 1)
    px = m.c[idx]
    k = max(1, 8 * HOUR_MS // m.base_ms)
    csum = np.r_[0.0, np.cumsum(m.c)]
    lo = np.maximum(idx + 1 - k, 0)
    mean = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    premium = np.round((px - mean) / mean * 0.1, 8)
    rate = np.round(np.clip(premium / 8 + INTEREST_PER_HOUR, -0.04, 0.04), 8)
    return Funding(hours + FUNDING_OFFSET_MS, rate, premium)


def load_candle_file(path: str | Path, coin: str | None = None) -> Market:
    """A file in candleSnapshot shape (list of {t, T, s, i, o, c, h, l, v, n})."""
    path = Path(path)
    rows = orjson.loads(path.read_bytes())
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty list of candles")
    rows.sort(key=lambda r: r["t"])
    interval = rows[0].get("i")
    if interval not in INTERVAL_MS:
        raise ValueError(f"{path}: unknown interval {interval!r}")
    cols = {k: [r[k] for r in rows] for k in ("t", "o", "h", "l", "c", "v")}
    n = [r.get("n", 0) for r in rows]
    return Market(coin or rows[0].get("s") or path.stem, INTERVAL_MS[interval], cols["t"],
                  np.array(cols["o"], float), np.array(cols["h"], float),
                  np.array(cols["l"], float), np.array(cols["c"], float),
                  np.array(cols["v"], float), n)


def load_funding_file(path: str | Path) -> Funding:
    """A file in fundingHistory shape (list of {coin, fundingRate, premium, time})."""
    rows = sorted(orjson.loads(Path(path).read_bytes()), key=lambda r: r["time"])
    return Funding(np.array([r["time"] for r in rows], np.int64),
                   np.array([float(r["fundingRate"]) for r in rows]),
                   np.array([float(r.get("premium") or 0.0) for r in rows]))


def round_sig(x: np.ndarray, sig: int = 5) -> np.ndarray:
    """Round to `sig` significant figures, as the exchange's prices are."""
    mag = np.floor(np.log10(np.abs(x)))
    scale = 10.0 ** (sig - 1 - mag)
    return np.round(x * scale) / scale


class SyntheticMarket(Market):
    """A seeded 1-minute market: mean reversion around a slowly wandering level, with trending
    and volatile spells (a Markov chain of regimes), and funding from the premium.

    The path is drawn one whole day at a time from one generator, so the same seed gives the
    same candles however far and in whatever steps the clock has run.
    """

    DAY = 1440
    # regime: (mean reversion per minute, volatility per minute, |drift| per minute, mean minutes)
    REGIMES = {"range": (0.02, 0.0009, 0.0, 3 * 1440),
               "trend": (0.0005, 0.0010, 0.00012, 12 * 60),
               "volatile": (0.01, 0.0028, 0.0, 6 * 60)}
    NEXT = {"range": ("trend", "volatile"), "trend": ("range", "volatile"), "volatile": ("range", "trend")}

    START_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "DOGE": 0.15}

    def __init__(self, coin: str, seed: int, origin_ms: int, price: float | None = None):
        price = price or self.START_PRICES.get(coin, 100.0)
        self.seed = seed
        self.rng = np.random.default_rng([seed, zlib.crc32(coin.encode())])
        self.origin = floor_to(origin_ms, MINUTE_MS)
        self.level = math.log(price)        # the wandering fair value (log)
        self.x = math.log(price)            # the log price
        self.regime = "range"
        self.left = self.REGIMES["range"][3]
        self.drift_sign = 1.0
        self.regimes: list[tuple[int, str]] = [(self.origin, self.regime)]
        super().__init__(coin, MINUTE_MS, [], [], [], [], [], [], [])
        self._funding = Funding(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        self._append_day()

    def ensure(self, until_ms: int) -> None:
        while self.end_ms <= until_ms:
            self._append_day()

    def _append_day(self) -> None:
        n = self.DAY
        rng = self.rng
        start = self.origin + len(self.t) * MINUTE_MS
        shocks = rng.standard_normal(n)
        wick = np.abs(rng.standard_normal((2, n)))
        vol_noise = rng.lognormal(0.0, 0.5, n)
        switch_u = rng.random(n)
        level_noise = rng.standard_normal(n) * 0.00005
        closes = np.empty(n)
        sigmas = np.empty(n)
        for i in range(n):
            self.left -= 1
            if self.left <= 0 or switch_u[i] < 1.0 / (self.REGIMES[self.regime][3] * 4):
                choices = self.NEXT[self.regime]
                self.regime = choices[int(switch_u[i] * 1e6) % 2]
                self.left = int(self.REGIMES[self.regime][3] * (0.5 + switch_u[i]))
                self.drift_sign = 1.0 if shocks[i] > 0 else -1.0
                self.regimes.append((start + i * MINUTE_MS, self.regime))
            kappa, sigma, drift, _ = self.REGIMES[self.regime]
            self.level += level_noise[i] + (drift * self.drift_sign)
            self.x += kappa * (self.level - self.x) + sigma * shocks[i]
            closes[i] = self.x
            sigmas[i] = sigma
        c = round_sig(np.exp(closes))
        prev = np.r_[self.c[-1] if len(self.c) else c[0], c[:-1]]
        o = prev
        h = round_sig(np.maximum(o, c) * np.exp(wick[0] * sigmas * 0.5))
        l = round_sig(np.minimum(o, c) * np.exp(-wick[1] * sigmas * 0.5))
        v = np.round(vol_noise * (sigmas / 0.0009) * 50.0, 4)
        nn = np.maximum(1, (vol_noise * 40).astype(np.int64))
        t = start + np.arange(n, dtype=np.int64) * MINUTE_MS
        self.t = np.r_[self.t, t]
        self.o, self.h, self.l, self.c = (np.r_[self.o, o], np.r_[self.h, h],
                                          np.r_[self.l, l], np.r_[self.c, c])
        self.v = np.r_[self.v, v]
        self.n = np.r_[self.n, nn]
        self._funding = derive_funding(self)
