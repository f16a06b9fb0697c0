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
from pathlib import Path
from typing import IO, Iterator

import fastjsonschema
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
        if spec.get("x-unit") == "ms":
            return time_error(value)
        if "minimum" in spec and value < spec["minimum"]:
            return f"expected a number >= {spec['minimum']}, got {value}"
        if "exclusiveMinimum" in spec and value <= spec["exclusiveMinimum"]:
            return f"expected a number > {spec['exclusiveMinimum']}, got {value}"
        if "maximum" in spec and value > spec["maximum"]:
            return f"expected a number <= {spec['maximum']}, got {value}"
    if isinstance(value, str):
        if len(value) < spec.get("minLength", 0):
            return "expected a non-empty string"
        if "pattern" in spec:
            if not re.search(spec["pattern"], value):
                return f"expected a string matching {spec['pattern']}, got {_show(value)}"
    return None


T_MIN, T_MAX = 1_420_070_400_000, 4_102_444_800_000      # 2015-01-01, 2100-01-01 (ms)


def time_error(value) -> str | None:
    """What is wrong with a time in epoch milliseconds, naming a unit mistaken for it."""
    if T_MIN <= value < T_MAX:
        return None
    if T_MIN / 1000 <= value < T_MAX / 1000:
        return f"{value} looks like seconds, expected milliseconds"
    if T_MIN * 1000 <= value < T_MAX * 1000:
        return f"{value} looks like microseconds, expected milliseconds"
    return f"{value} is not a time in milliseconds between 2015-01-01 and 2100-01-01"


def ohlc_error(field: str, value: float) -> str:
    """The message for a high below max(open, close) or a low above min(open, close)."""
    what = "at least max(o, c)" if field == "h" else "at most min(o, c)"
    return f'field "{field}": expected {what}, got {float(value)!r}'


def candle_errors(rec: dict) -> list[str]:
    """The rules between a candle's fields: high and low contain the open and the close."""
    o, h, lo, c = (rec.get(k) for k in ("o", "h", "l", "c"))
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (o, h, lo, c)):
        return []
    return [ohlc_error(f, v) for f, v, bad in (("h", h, h < max(o, c)), ("l", lo, lo > min(o, c)))
            if bad]


CROSS_FIELD = {"candle": candle_errors}


def require(line: "Line", fields, why: str) -> None:
    """BadInput unless the record has each of these (optional in its schema) fields, not null:
    a protocol between two stages (the replay's) needs them."""
    for name in fields:
        if line.rec.get(name) is None:
            raise BadInput(f'line {line.number}: field "{name}": missing ({why} needs it)',
                           line=line.number, field=name)


def make(rtype: str, **fields) -> dict:
    """A record of `rtype`: its type and schema version stamped here, the fields after them."""
    return {"type": rtype, "v": VERSION, **fields}


def explain(rtype: str, rec: dict) -> list[str]:
    """Every problem with `rec` against its schema, one phrase each, in schema field order."""
    return _object_problems(schemas()[rtype], rec, "")


def _object_problems(schema: dict, obj: dict, path: str) -> list[str]:
    """The problems of an object against an object schema; nested objects are named by their
    path (`decisions.long.action`)."""
    problems = []
    for name in schema.get("required", ()):
        if name not in obj:
            problems.append(f'field "{path}{name}": missing')
    props = schema.get("properties", {})
    for name, spec in props.items():
        if name not in obj:
            continue
        err = _field_error(spec, obj[name])
        if err:
            problems.append(f'field "{path}{name}": {err}')
        elif "properties" in spec and isinstance(obj[name], dict):
            problems += _object_problems(spec, obj[name], f"{path}{name}.")
    if schema.get("additionalProperties") is False:
        problems += [f'field "{path}{name}": not expected here' for name in obj
                     if name not in props]
    return problems


def validate(rec: dict, where: str = "") -> None:
    """Raise BadInput naming every problem of a record (its type must already be known): its
    schema, then the rules between its fields."""
    rtype = rec.get("type")
    try:
        validator(rtype)(rec)
    except fastjsonschema.JsonSchemaException:
        problems = explain(rtype, rec) or ["does not match its schema"]
        raise BadInput(f"{where}{'; '.join(problems)}") from None
    cross = CROSS_FIELD.get(rtype)
    problems = cross(rec) if cross else []
    if problems:
        raise BadInput(f"{where}{'; '.join(problems)}")


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
