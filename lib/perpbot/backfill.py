"""Backfill: every configured symbol and timeframe, and funding, from the exchange into the store.

Idempotent and cron-safe: each page is one short transaction of conflict-ignoring inserts, so re-running
adds nothing already there and the trade loop's own writes interleave through WAL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import marketdata
from .hl.client import InfoClient
from .store import Store
from .timeutil import DAY_MS


@dataclass
class Summary:
    fetched: int = 0
    new: int = 0
    seconds: float = 0.0
    jobs: int = 0

    def as_dict(self) -> dict:
        return {"rows_fetched": self.fetched, "rows_new": self.new,
                "seconds": round(self.seconds, 3), "series": self.jobs}


def plan(symbols, timeframes, funding: bool) -> list[tuple[str, str]]:
    """(symbol, timeframe or "funding") in the order they are fetched."""
    jobs = [(s, tf) for s in symbols for tf in timeframes]
    if funding:
        jobs += [(s, "funding") for s in symbols]
    return jobs


def run(client: InfoClient, store: Store, jobs, now: int, history_days: float,
        start: int | None = None, end: int | None = None, progress=None) -> Summary:
    """Fetch each job from its last stored row (or `start`, or history_days ago) to `end`/now.

    `progress(job_index, result, done)` is called after every page, and with done=True once a
    job is finished.
    """
    t0 = time.perf_counter()
    default_start = start if start is not None else now - int(history_days * DAY_MS)
    end = now if end is None else end
    summary = Summary(jobs=len(jobs))
    for i, (symbol, kind) in enumerate(jobs):
        cb = (lambda res, i=i: progress(i, res, False)) if progress else None
        if kind == "funding":
            s = default_start if start is not None else \
                marketdata.funding_update_start(store, symbol, default_start)
            res = marketdata.sync_funding(client, store, symbol, s, end, now, on_page=cb)
        else:
            s = default_start if start is not None else \
                marketdata.update_start(store, symbol, kind, default_start)
            res = marketdata.sync_candles(client, store, symbol, kind, s, end, now, on_page=cb)
        summary.fetched += res.fetched
        summary.new += res.new
        if progress:
            progress(i, res, True)
    summary.seconds = time.perf_counter() - t0
    return summary
