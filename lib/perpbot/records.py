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
