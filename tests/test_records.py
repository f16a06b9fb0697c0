import io

import pytest
from hypothesis import given, strategies as st

from conftest import ROOT
from perpbot import records
from perpbot.errors import BadInput

CANDLE = {"type": "candle", "v": 1, "symbol": "ETH", "tf": "15m", "t": 1_700_000_000_000,
          "T": 1_700_000_899_999, "o": 2000.5, "h": 2010.0, "l": 1990.25, "c": 2005.0,
          "volume": 12.5, "n": 40}


def lines(*recs) -> io.BytesIO:
    import orjson
    return io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in recs))


def test_one_schema_per_design_record_type():
    assert set(records.schemas()) == {"candle", "funding", "indicators", "regime", "signal",
                                      "intent", "rejected", "fill"}
    for name, schema in records.schemas().items():
        assert schema["$schema"].endswith("2020-12/schema")
        assert schema["properties"]["type"] == {"const": name}
        assert {"type", "v"} <= set(schema["required"])
    assert (ROOT / "schemas" / "candle.json").exists()


def test_valid_records_pass_and_passthrough_keeps_raw_bytes():
    raw = b'{"type":"funding","v":1,"symbol":"ETH","t":1700000000000,"rate":0.0001,"premium":null}\n'
    got = list(records.read(io.BytesIO(raw + raw), {"candle"}))
    assert [g.raw for g in got] == [raw, raw]
    got = list(records.read(lines(CANDLE), {"candle"}))
    assert got[0].rec == CANDLE and got[0].number == 1


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(c="abc"), 'line 2: field "c": expected a number, got "abc"'),
    (lambda r: r.pop("symbol"), 'line 2: field "symbol": missing'),
    (lambda r: r.update(t=1.5), 'line 2: field "t": expected an integer, got 1.5'),
    (lambda r: r.update(tf="7m"), 'line 2: field "tf": expected one of 1m, 3m'),
    (lambda r: r.update(o=-1.0), 'line 2: field "o": expected a number > 0, got -1.0'),
    (lambda r: r.update(n=True), 'line 2: field "n": expected an integer, got true'),
    (lambda r: r.update(v=2), 'line 2: field "v": expected 1, got 2'),
])
def test_bad_field_names_line_and_field(mutate, message):
    bad = dict(CANDLE)
    mutate(bad)
    with pytest.raises(BadInput) as e:
        list(records.read(lines(CANDLE, bad), {"candle"}))
    assert message in e.value.msg


def test_all_errors_of_a_record_are_reported_together():
    bad = dict(CANDLE, c="abc", h=None)
    del bad["symbol"]
    with pytest.raises(BadInput) as e:
        list(records.read(lines(bad), {"candle"}))
    assert e.value.msg == ('line 1: field "symbol": missing; field "h": expected a number, '
                           'got null; field "c": expected a number, got "abc"')


@pytest.mark.parametrize("data, message", [
    (b'{"type":"candle","v":1,"sym', 'line 1: truncated line: input ends mid-record'),
    (b'{"type": "candle", "v": 1]\n', "line 1: not valid JSON"),
    (b'\n', "line 1: blank line"),
    (b'[1, 2]\n', "line 1: expected a JSON object, got a list"),
    (b'{"v": 1}\n', 'line 1: field "type": missing'),
    (b'{"type": "order", "v": 1}\n', 'line 1: field "type": unknown record type "order"'),
    (b'{"type": "funding", "v": 9}\n', 'line 1: field "v": expected 1, got 9'),
])
def test_malformed_lines(data, message):
    with pytest.raises(BadInput) as e:
        list(records.read(io.BytesIO(data), {"candle"}))
    assert message in e.value.msg


def test_last_line_without_newline_is_accepted_when_whole():
    import orjson
    got = list(records.read(io.BytesIO(orjson.dumps(CANDLE)), {"candle"}))
    assert got[0].raw.endswith(b"\n")


def test_nan_becomes_null_on_purpose():
    out = records.dumps({"type": "indicators", "z": float("nan"), "rsi": float("inf"), "adx": 1.5})
    assert out == b'{"type":"indicators","z":null,"rsi":null,"adx":1.5}\n'


finite = st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(o=finite, h=finite, l=finite, c=finite, v=st.floats(0, 1e12), n=st.integers(0, 10**9),
       t=st.integers(records.T_MIN, records.T_MAX - 60_000), sym=st.text(min_size=1, max_size=12))
def test_candle_round_trip(o, h, l, c, v, n, t, sym):
    h, l = max(o, h, l, c), min(o, h, l, c)           # high and low contain open and close
    rec = dict(CANDLE, o=o, h=h, l=l, c=c, volume=v, n=n, t=t, T=t + 59_999, symbol=sym)
    (got,) = records.read(io.BytesIO(records.dumps(rec)), {"candle"})
    assert got.rec == rec


def strategy_for(spec: dict):
    """A hypothesis strategy for values valid under one flat schema property."""
    if "const" in spec:
        return st.just(spec["const"])
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    types = spec.get("type", "string")
    types = [types] if isinstance(types, str) else types
    options = []
    for t in types:
        if t == "number":
            lo = spec.get("minimum", spec.get("exclusiveMinimum", -1e12))
            options.append(st.floats(min_value=lo, max_value=1e12, allow_nan=False,
                                     exclude_min="exclusiveMinimum" in spec))
        elif t == "integer":
            hi = spec["exclusiveMaximum"] - 1 if "exclusiveMaximum" in spec else 2**53
            options.append(st.integers(min_value=spec.get("minimum", -2**53), max_value=hi))
        elif t == "string":
            options.append(st.from_regex(spec["pattern"], fullmatch=True) if "pattern" in spec
                           else st.text(min_size=spec.get("minLength", 0), max_size=20))
        elif t == "null":
            options.append(st.none())
        elif t == "boolean":
            options.append(st.booleans())
        elif t == "object":
            options.append(st.dictionaries(st.text(max_size=5), st.integers(-2**53, 2**53),
                                           max_size=3))
    return st.one_of(*options)


@pytest.mark.parametrize("rtype", sorted(records.schemas()))
def test_every_record_type_round_trips(rtype):
    schema = records.schemas()[rtype]
    rec_strategy = st.fixed_dictionaries(
        {k: strategy_for(v) for k, v in schema["properties"].items() if k in schema["required"]})

    @given(rec_strategy)
    def check(rec):
        if rtype == "candle":
            rec["h"], rec["l"] = max(rec["o"], rec["h"], rec["c"]), min(rec["o"], rec["l"], rec["c"])
        records.validate(rec)
        (got,) = records.read(io.BytesIO(records.dumps(rec)), {rtype})
        assert got.rec == rec

    check()


@pytest.mark.parametrize("t, message", [
    (1_700_000_000, 'field "t": 1700000000 looks like seconds, expected milliseconds'),
    (1_700_000_000_000_000, 'field "t": 1700000000000000 looks like microseconds, expected '
                            'milliseconds'),
    (0, 'field "t": 0 is not a time in milliseconds between 2015-01-01 and 2100-01-01'),
    (4_102_444_800_000, 'field "t": 4102444800000 is not a time in milliseconds'),
])
def test_times_are_bounded_and_a_wrong_unit_is_named(t, message):
    for rec in (dict(CANDLE, t=t, T=CANDLE["T"]),
                {"type": "funding", "v": 1, "symbol": "ETH", "t": t, "rate": 0.0, "premium": None}):
        with pytest.raises(BadInput) as e:
            records.validate(rec, "line 3: ")
        assert e.value.msg.startswith("line 3: " + message), e.value.msg


@pytest.mark.parametrize("fields, message", [
    ({"h": 2001.0}, 'field "h": expected at least max(o, c), got 2001.0'),
    ({"l": 2001.0}, 'field "l": expected at most min(o, c), got 2001.0'),
    ({"h": 1000.0, "l": 3000.0}, 'field "h": expected at least max(o, c), got 1000.0; '
                                 'field "l": expected at most min(o, c), got 3000.0'),
    ({"o": 0.0}, 'field "o": expected a number > 0, got 0.0'),
    ({"c": -1.0}, 'field "c": expected a number > 0, got -1.0'),
])
def test_candle_prices_are_positive_and_high_and_low_contain_open_and_close(fields, message):
    with pytest.raises(BadInput) as e:
        records.validate(dict(CANDLE, **fields))
    assert e.value.msg == message


def test_make_stamps_type_and_version():
    assert records.make("rejected", symbol="ETH") == {"type": "rejected", "v": 1, "symbol": "ETH"}
