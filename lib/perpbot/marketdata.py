"""Candles and funding from the exchange into the store and out as records.

Only closed candles are ever stored or emitted: a candle is final once the clock has passed its
close time T (T < now). The candle still forming, which the exchange returns as the last element
of a snapshot, is dropped here and picked up on a later run once it has closed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from .hl import parse
from .hl.client import InfoClient
from .store import Store
from .timeutil import interval_ms


@dataclass
class SyncResult:
    symbol: str
    kind: str                 # a timeframe, or "funding"
    fetched: int = 0
    new: int = 0
    rows: list = field(default_factory=list)


def closed_candle_pages(client: InfoClient, symbol: str, tf: str, start: int, end: int,
                        now: int) -> Iterator[list[tuple]]:
    """Store rows of closed candles with t in [start, end], a page at a time."""
    for page in client.candle_pages(symbol, tf, start, min(end, now)):
        rows = [parse.candle_row(c, symbol, tf, f"candleSnapshot {symbol} {tf}") for c in page]
        rows = [r for r in rows if r.t_close < now and r.t <= end]
        if rows:
            yield rows


def funding_pages(client: InfoClient, symbol: str, start: int, end: int,
                  now: int) -> Iterator[list[tuple]]:
    for page in client.funding_pages(symbol, start, min(end, now)):
        yield [parse.funding_row(f, symbol, f"fundingHistory {symbol}") for f in page]


def _sync(res: SyncResult, pages: Iterator[list[tuple]], insert: Callable | None,
          keep_rows: bool, on_page: Callable[[SyncResult], None] | None) -> SyncResult:
    """Store each page in its own transaction (cron-safe), counting rows fetched and new."""
    for rows in pages:
        res.fetched += len(rows)
        if insert is not None:
            res.new += insert(rows)
        if keep_rows:
            res.rows.extend(rows)
        if on_page:
            on_page(res)
    return res


def sync_candles(client: InfoClient, store: Store | None, symbol: str, tf: str, start: int,
                 end: int, now: int, keep_rows: bool = False,
                 on_page: Callable[[SyncResult], None] | None = None) -> SyncResult:
    """Fetch closed candles in [start, end] into the store (if any)."""
    return _sync(SyncResult(symbol, tf), closed_candle_pages(client, symbol, tf, start, end, now),
                 store.insert_candles if store else None, keep_rows, on_page)


def sync_funding(client: InfoClient, store: Store | None, symbol: str, start: int, end: int,
                 now: int, keep_rows: bool = False,
                 on_page: Callable[[SyncResult], None] | None = None) -> SyncResult:
    """Fetch funding rates in [start, end] into the store (if any)."""
    return _sync(SyncResult(symbol, "funding"), funding_pages(client, symbol, start, end, now),
                 store.insert_funding if store else None, keep_rows, on_page)


def update_start(store: Store, symbol: str, tf: str, default_start: int) -> int:
    """Where an incremental candle update begins: one interval after the last stored candle."""
    last = store.last_candle_time(symbol, tf)
    return default_start if last is None else last + interval_ms(tf)


def funding_update_start(store: Store, symbol: str, default_start: int) -> int:
    last = store.last_funding_time(symbol)
    return default_start if last is None else last + 1


def merge_records(candle_rows: Iterable[Iterable[tuple]],
                  funding_rows: Iterable[Iterable[tuple]] = ()) -> Iterator[dict]:
    """Candle and funding records of several symbols in the order they became known.

    A candle is known at its close (T), a funding rate at its time; ties go candles first, then
    by symbol. Each input iterable must already be in time order.
    """
    streams = [((r.t_close, 0, r.symbol, parse.candle_record(r)) for r in rows)
               for rows in candle_rows]
    streams += [((r.t, 1, r.symbol, parse.funding_record(r)) for r in rows)
                for rows in funding_rows]
    for _, _, _, rec in heapq.merge(*streams, key=lambda x: x[:3]):
        yield rec
