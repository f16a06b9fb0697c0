"""The record contract: one JSON Schema per record type (schemas/*.json), NDJSON in and out.

Validation uses validators compiled once per process (fastjsonschema). When a record fails, its
errors are worked out again field by field so that all of them are reported together, each as
`field "c": expected a number, got "abc"`.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import IO, Iterator

import fastjsonschema
import numpy as np
import orjson

from .errors import BadInput

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
VERSION = 1


@lru_cache(maxsize=None)
def schemas() -> dict[str, dict]:
    out = {}
    for p in sorted(SCHEMA_DIR.glob("*.json")):
        out[p.stem] = orjson.loads(p.read_bytes())
    return out


@lru_cache(maxsize=None)
def validator(rtype: str):
    return fastjsonschema.compile(schemas()[rtype])


def _show(value) -> str:
    if isinstance(value, str):
        return '"' + (value if len(value) <= 40 else value[:37] + "...") + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_TYPE_WORDS = {"number": "a number", "integer": "an integer", "string": "a string",
               "null": "null", "object": "an object", "boolean": "true or false", "array": "a list"}


def _type_ok(value, t: str) -> bool:
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "null":
        return value is None
    if t == "object":
        return isinstance(value, dict)
    if t == "boolean":
        return isinstance(value, bool)
    return isinstance(value, list)


def _field_error(spec: dict, value) -> str | None:
    if "const" in spec and value != spec["const"]:
        return f"expected {_show(spec['const'])}, got {_show(value)}"
    if "enum" in spec and value not in spec["enum"]:
        return f"expected one of {', '.join(map(str, spec['enum']))}, got {_show(value)}"
    types = spec.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_type_ok(value, t) for t in types):
            return f"expected {' or '.join(_TYPE_WORDS[t] for t in types)}, got {_show(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number, got {value}"
        if "minimum" in spec and value < spec["minimum"]:
            return f"expected a number >= {spec['minimum']}, got {value}"
        if "exclusiveMinimum" in spec and value <= spec["exclusiveMinimum"]:
            return f"expected a number > {spec['exclusiveMinimum']}, got {value}"
    if isinstance(value, str):
        if len(value) < spec.get("minLength", 0):
            return "expected a non-empty string"
        if "pattern" in spec:
            if not re.search(spec["pattern"], value):
                return f"expected a string matching {spec['pattern']}, got {_show(value)}"
    return None


def explain(rtype: str, rec: dict) -> list[str]:
    """Every problem with `rec` against its schema, one phrase each, in schema field order."""
    schema = schemas()[rtype]
    problems = []
    for name in schema["required"]:
        if name not in rec:
            problems.append(f'field "{name}": missing')
    for name, spec in schema["properties"].items():
        if name in rec:
            err = _field_error(spec, rec[name])
            if err:
                problems.append(f'field "{name}": {err}')
    return problems


def validate(rec: dict, where: str = "") -> None:
    """Raise BadInput naming every problem of a record (its type must already be known)."""
    rtype = rec.get("type")
    try:
        validator(rtype)(rec)
    except fastjsonschema.JsonSchemaException:
        problems = explain(rtype, rec) or ["does not match its schema"]
        raise BadInput(f"{where}{'; '.join(problems)}") from None


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean(rec: dict) -> dict:
    """NaN and infinities become null, on purpose and only here (orjson would do it silently)."""
    return {k: _clean(v) for k, v in rec.items()}


def dumps(rec: dict) -> bytes:
    return orjson.dumps(clean(rec), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


@dataclass
class Line:
    """One input line: `rec` is the parsed record, `raw` the exact bytes (newline included)."""

    number: int
    rec: dict
    raw: bytes


def _parse(raw: bytes, where: str, number: int, last: bool) -> dict:
    """One line to a record whose type is known; BadInput names what is wrong."""
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if last:
            raise BadInput(f"{where}truncated line: input ends mid-record", line=number) from None
        if not raw.strip():
            raise BadInput(f"{where}blank line (NDJSON allows none)", line=number) from None
        raise BadInput(f"{where}not valid JSON at column {e.colno}", line=number) from None
    if not isinstance(rec, dict):
        raise BadInput(f"{where}expected a JSON object, got {_show(rec)}", line=number)
    rtype = rec.get("type")
    if rtype is None:
        raise BadInput(f'{where}field "type": missing', line=number, field="type")
    if rtype not in schemas():
        raise BadInput(f'{where}field "type": unknown record type {_show(rtype)} '
                       f'(expected one of {", ".join(schemas())})', line=number, field="type")
    return rec


def _check_version(rec: dict, where: str, number: int) -> None:
    if rec.get("v") != VERSION or isinstance(rec.get("v"), bool):
        raise BadInput(f'{where}field "v": expected {VERSION}, got {_show(rec.get("v"))}',
                       line=number, field="v")


def read(stream: IO[bytes], consumes: set[str] | frozenset[str], source: str = "") -> Iterator[Line]:
    """Parse NDJSON records; validate the types this stage consumes; check every line's type.

    A bad line raises BadInput naming the line number and the field. Records of known types that
    the stage does not consume come through unvalidated beyond their type and version, for
    passing on as raw bytes.
    """
    prefix = f"{source}: " if source else ""
    for number, raw in enumerate(stream, 1):
        where = f"{prefix}line {number}: "
        last = not raw.endswith(b"\n")
        if last:
            if not raw.strip():
                return
            raw += b"\n"
        rec = _parse(raw, where, number, last)
        if rec["type"] in consumes:
            validate(rec, where)
        else:
            _check_version(rec, where, number)
        yield Line(number, rec, raw)


class Writer:
    """NDJSON to a binary stream; flushed per record when `line_buffered` (the live trade loop)."""

    def __init__(self, stream: IO[bytes] | None = None, line_buffered: bool | None = None):
        self.stream = stream if stream is not None else sys.stdout.buffer
        if line_buffered is None:
            line_buffered = os.environ.get("PERPBOT_LINE_BUFFERED") == "1" or self.stream.isatty()
        self.line_buffered = line_buffered
        self.count = 0

    def write(self, rec: dict) -> None:
        self.write_raw(dumps(rec))

    def write_raw(self, raw: bytes) -> None:
        self.stream.write(raw)
        self.count += 1
        if self.line_buffered:
            self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()


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
    ok = ((cols["o"] > 0).all() and (cols["h"] > 0).all() and (cols["l"] > 0).all()
          and (cols["c"] > 0).all() and (cols["volume"] >= 0).all() and (cols["t"] >= 0).all()
          and (cols["T"] >= 0).all() and (cols["n"] >= 0).all())
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
