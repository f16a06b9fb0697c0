"""The columnar fast path of the record contract, for compute-indicators: candles read as whole
numpy columns, and numbers formatted a column at a time. Kept apart from `records` so that the
stages that never see a column do not pay for importing numpy."""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import orjson

from .errors import BadInput
from .records import T_MAX, T_MIN, VERSION, _check_version, _parse, schemas, validate


# columnar fast path ------------------------------------------------------------------------------
# compute-indicators reads whole columns of candles: per-record schema validation would cost
# more than everything else together, so candles are checked column by column, and any record a
# column check cannot clear is validated on its own, which names its line and field.

CANDLE_NUMBERS = ("o", "h", "l", "c", "volume")
CANDLE_INTEGERS = ("t", "T", "n")


def number_texts(a: np.ndarray) -> list[bytes]:
    """JSON text of every element of a float column. NaN and infinities become null: orjson
    writes them so, and this is the one place the columnar path relies on it."""
    if len(a) == 0:
        return []
    return orjson.dumps(np.ascontiguousarray(a), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def int_texts(a: np.ndarray) -> list[bytes]:
    if len(a) == 0:
        return []
    return orjson.dumps(np.ascontiguousarray(a), option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


@dataclass
class Batch:
    """All input records: the candles as columns, the other lines kept as they came."""

    n_lines: int
    others: dict[int, bytes]      # line index -> raw line (newline included) of non-candles
    candle_rows: np.ndarray       # line index of each candle, in input order
    cols: dict                    # column name -> numpy array (candles only)
    series: list[tuple[str, str]]  # the distinct (symbol, tf), in order of first appearance
    series_id: np.ndarray         # index into `series` of each candle


_BATCH_BYTES = 1 << 18
_TYPE, _V, _SYMBOL, _TF = (itemgetter(k) for k in ("type", "v", "symbol", "tf"))


_PARALLEL_BYTES = 1 << 23      # below 8 MB of input one process is quicker than forking


def read_batch(data: bytes, source: str = "", jobs: int | None = None) -> Batch:
    """Parse NDJSON at once, ~256 KB of whole lines at a time; check every line's type and
    every candle. Big inputs are split at line boundaries over `jobs` processes (default: the
    cores this process may use).

    A block of lines is parsed as one JSON array, and a block of candles goes through column
    checks (numpy dtypes and bounds) instead of per-record schema validation. A block that does
    not parse, that the checks cannot clear, or that mixes record types is taken line by line,
    which names the first bad line and field exactly as `read` would.
    """
    from .parallel import cores, fork_map

    prefix = f"{source}: " if source else ""
    size = len(data)
    truncated = size > 0 and not data.endswith(b"\n")
    n_lines = data.count(b"\n") + (1 if truncated else 0)
    jobs = min(jobs or cores(), max(1, size // _PARALLEL_BYTES))
    bounds = [0]
    for k in range(1, jobs):
        cut = data.find(b"\n", size * k // jobs)
        if cut < 0 or cut + 1 <= bounds[-1]:
            break
        bounds.append(cut + 1)
    bounds.append(size)
    pieces = []
    first_line = 0
    for lo, hi in zip(bounds, bounds[1:]):
        pieces.append((data, lo, hi, first_line, n_lines, truncated, prefix))
        first_line += data.count(b"\n", lo, hi)
    parts = fork_map(_read_part, pieces) if len(pieces) > 1 else [_read_part(*pieces[0])]
    # merge: series numbered in order of first appearance over the whole input
    series: dict[tuple[str, str], int] = {}
    rows, ids, others = [], [], {}
    cols: dict[str, list] = {k: [] for k in CANDLE_NUMBERS + CANDLE_INTEGERS}
    for part in parts:
        remap = np.array([series.setdefault(key, len(series)) for key in part.series] or [0],
                         dtype=np.int32)
        rows.append(part.candle_rows)
        ids.append(remap[part.series_id])
        others.update(part.others)
        for k in cols:
            cols[k].append(part.cols[k])
    return Batch(n_lines, others, np.concatenate(rows), {k: np.concatenate(v) for k, v in cols.items()},
                 list(series), np.concatenate(ids))


def _read_part(data: bytes, start: int, stop: int, first_line: int, n_lines: int,
               truncated: bool, prefix: str) -> Batch:
    """read_batch's work on data[start:stop], whose first line is number first_line + 1."""
    bools = data.find(b"true", start, stop) >= 0 or data.find(b"false", start, stop) >= 0
    rows: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in CANDLE_NUMBERS + CANDLE_INTEGERS}
    series: dict[tuple[str, str], int] = {}
    others: dict[int, bytes] = {}
    while start < stop:
        end = data.find(b"\n", min(start + _BATCH_BYTES, stop - 1), stop)
        end = stop if end < 0 else end + 1
        block = data[start:end]
        count = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        try:
            recs = orjson.loads(b"[" + block.rstrip(b"\n").replace(b"\n", b",") + b"]")
            fast = (not bools and len(recs) == count
                    and set(map(_TYPE, recs)) == {"candle"} and set(map(_V, recs)) == {VERSION})
            syms, tfs = (set(map(_SYMBOL, recs)), set(map(_TF, recs))) if fast else ((), ())
        except (orjson.JSONDecodeError, KeyError, TypeError):
            fast = False
        fast = (fast and tfs <= _TIMEFRAMES
                and all(isinstance(sym, str) and sym for sym in syms))
        cols = _candle_columns(recs) if fast else None
        if cols is None:
            # line by line: exact messages, mixed types, pass-through
            lines = block.splitlines(keepends=True)
            recs, cand = _slow_block(lines, first_line, n_lines, truncated, prefix)
            for j, raw in enumerate(lines):
                if j not in cand:
                    others[first_line + j] = raw if raw.endswith(b"\n") else raw + b"\n"
            cand = sorted(cand)
            if cand:
                cols = _candle_columns([recs[i] for i in cand])
                if cols is None:        # validate() accepted what the column checks did not
                    raise BadInput(f"{prefix}line {first_line + cand[0] + 1}: candle values out "
                                   f"of range")
                rows.append(first_line + np.array(cand, dtype=np.int64))
                ids.append(np.array([series.setdefault((recs[i]["symbol"], recs[i]["tf"]),
                                                       len(series)) for i in cand], dtype=np.int32))
        else:
            rows.append(np.arange(first_line, first_line + count, dtype=np.int64))
            if len(syms) == 1 and len(tfs) == 1:
                (sym,), (tf,) = syms, tfs
                ids.append(np.full(count, series.setdefault((sym, tf), len(series)), np.int32))
            else:
                ids.append(np.array([series.setdefault((r["symbol"], r["tf"]), len(series))
                                     for r in recs], dtype=np.int32))
        if cols is not None:
            for k, a in cols.items():
                parts[k].append(a)
        start = end
        first_line += count
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.empty(0, dt))
    cols = {k: cat(v, float if k in CANDLE_NUMBERS else np.int64) for k, v in parts.items()}
    return Batch(n_lines, others, cat(rows, np.int64), cols, list(series), cat(ids, np.int32))


def _candle_columns(recs: list[dict]) -> dict | None:
    """Numeric columns of candle records, or None where a value is not of its type or range."""
    cols = {}
    try:
        for k in CANDLE_NUMBERS:
            a = np.array([r[k] for r in recs])
            if a.dtype.kind not in "fi":
                return None
            cols[k] = a.astype(float, copy=False)
        for k in CANDLE_INTEGERS:
            a = np.array([r[k] for r in recs])
            if a.dtype.kind != "i":
                return None
            cols[k] = a
    except (KeyError, TypeError):
        return None
    o, h, lo, c = cols["o"], cols["h"], cols["l"], cols["c"]
    ok = ((o > 0).all() and (h > 0).all() and (lo > 0).all() and (c > 0).all()
          and (cols["volume"] >= 0).all() and (cols["n"] >= 0).all()
          and all(((cols[k] >= T_MIN) & (cols[k] < T_MAX)).all() for k in ("t", "T")))
    return cols if ok else None


def _slow_block(lines, first_line, n_lines, truncated, prefix):
    """Parse and check each line as `read` does; return the records (by line) and the indexes
    of the candles among them."""
    recs, cand = {}, set()
    for j, raw in enumerate(lines):
        number = first_line + j + 1
        where = f"{prefix}line {number}: "
        last = truncated and number == n_lines
        if not raw.strip() and last:
            break
        rec = _parse(raw, where, number, last)
        if rec["type"] == "candle":
            validate(rec, where)
            cand.add(j)
        else:
            _check_version(rec, where, number)
        recs[j] = rec
    return recs, cand


_TIMEFRAMES = frozenset(schemas()["candle"]["properties"]["tf"]["enum"])
