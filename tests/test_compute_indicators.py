"""compute-indicators through a real pipe: windows, interleaving, pass-through, bad input."""

import json

import numpy as np
import orjson
import pytest

from conftest import run, shared_file, write_config
from perpbot.hl import parse

FIELDS = ("z", "bb_mid", "bb_upper", "bb_lower", "rsi", "adx", "hurst")


def candle_lines(name, symbol="BTC", tf="1m"):
    rows = json.loads(shared_file(f"markets/{name}.json").read_text())
    return [orjson.dumps(parse.candle_record(parse.candle_row(c, symbol, tf))) + b"\n"
            for c in rows]


def indicators_of(stdout):
    return [orjson.loads(x) for x in stdout.splitlines()]


def rel_err(a, b):
    if a is None and b is None:
        return 0.0
    return abs(a - b) / abs(b) if b else abs(a)


@pytest.fixture(scope="module")
def unit_full():
    lines = candle_lines("UNITTEST_BTC-1m")
    r = run("compute-indicators", input=b"".join(lines))
    assert r.returncode == 0, r.stderr
    return lines, indicators_of(r.stdout)


@pytest.mark.parametrize("ends", [[1000, 5000, 9000, 13681]])
def test_window_of_300_and_400_give_the_full_history_last_row(unit_full, ends):
    lines, full = unit_full
    worst = {300: {}, 400: {}}
    for window in (300, 400):
        for end in ends:
            r = run("compute-indicators", input=b"".join(lines[end - window:end]))
            last = indicators_of(r.stdout)[-1]
            want = full[end - 1]
            assert last["t"] == want["t"]
            for f in FIELDS:
                worst[window][f] = max(worst[window].get(f, 0.0), rel_err(last[f], want[f]))
    # finite windows are exact for any input that holds them
    for f in ("z", "bb_mid", "bb_upper", "bb_lower", "hurst"):
        assert worst[300][f] <= 1e-9, (f, worst[300][f])
    # Wilder smoothing remembers every row: 300 candles are not enough for 1e-9 (see
    # indicators.py); the trade loop feeds 400, which are.
    assert worst[300]["adx"] > 1e-9
    for f in FIELDS:
        assert worst[400][f] <= 1e-9, (f, worst[400][f])


def test_one_indicators_record_per_candle_in_order_with_nulls_warming_up(unit_full):
    lines, full = unit_full
    assert len(full) == len(lines) == 13_681
    cands = [orjson.loads(x) for x in lines]
    assert [r["t"] for r in full] == [c["t"] for c in cands]
    assert all(r["type"] == "indicators" and r["v"] == 1 for r in full)
    assert full[18]["z"] is None and full[19]["z"] is not None
    assert full[13]["rsi"] is None and full[14]["rsi"] is not None
    assert full[26]["adx"] is None and full[27]["adx"] is not None
    assert full[98]["hurst"] is None and full[99]["hurst"] is not None
    assert full[500]["close"] == cands[500]["c"]


def test_interleaved_series_and_pass_through():
    a = candle_lines("LTC_BTC-5m", "LTC", "5m")[:400]
    b = candle_lines("ADA_BTC-5m", "ADA", "5m")[:300]
    funding = b'{"type":"funding","v":1,"symbol":"LTC","t":1,"rate":0.0001,"premium":null}\n'
    ia, ib = iter(a), iter(b)
    mixed = []
    for i in range(len(a) + len(b)):        # 4 of LTC, then 3 of ADA, ... until both run out
        first, second = (ia, ib) if i % 7 < 4 else (ib, ia)
        mixed.append(next(first, None) or next(second))
    mixed.insert(350, funding)
    r = run("compute-indicators", input=b"".join(mixed))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines(keepends=True)
    assert len(out) == len(mixed)
    assert out[mixed.index(funding)] == funding
    for series, sym in ((a, b'"LTC"'), (b, b'"ADA"')):
        alone = indicators_of(run("compute-indicators", input=b"".join(series)).stdout)
        assert [orjson.loads(x) for x in out if sym in x and b"indicators" in x] == alone


def test_flags_override_config(tmp_path):
    lines = candle_lines("EURUSD-1h", "EURUSD", "1h")[:200]
    cfg = write_config(tmp_path, None, indicators={"z_window": 50})
    r = run("compute-indicators", "--config", cfg, input=b"".join(lines))
    assert indicators_of(r.stdout)[48]["z"] is None and indicators_of(r.stdout)[49]["z"] is not None
    r = run("compute-indicators", "--config", cfg, "--z-window", "10", "--rsi-period", "5",
            input=b"".join(lines))
    rows = indicators_of(r.stdout)
    assert rows[8]["z"] is None and rows[9]["z"] is not None
    assert rows[4]["rsi"] is None and rows[5]["rsi"] is not None


BASE = 1_767_225_600_000          # 2026-01-01


def _candle(t, o=1.0, h=1.2, l=0.9, c=1.1):
    t += BASE
    return (b'{"type":"candle","v":1,"symbol":"ETH","tf":"1m","t":%d,"T":%d,"o":%r,"h":%r,'
            b'"l":%r,"c":%r,"volume":1.0,"n":1}\n' % (t, t + 59_999, o, h, l, c))


@pytest.mark.parametrize("data, message", [
    (_candle(0) + _candle(120_000) + _candle(60_000),
     'line 3: field "t": candles of ETH 1m must be in time order without repeats '
     '(1767225660000 after 1767225720000)'),
    (_candle(0) + _candle(0), 'line 2: field "t": candles of ETH 1m must be in time order'),
    (_candle(0) + _candle(60_000, h=1.05), 'line 2: field "h": expected at least max(o, c), got 1.05'),
    (_candle(0, l=1.01), 'line 1: field "l": expected at most min(o, c), got 1.01'),
    (_candle(0) + _candle(60_000).replace(b'"c":1.1', b'"c":"abc"'),
     'line 2: field "c": expected a number, got "abc"'),
    (_candle(0) + _candle(60_000).replace(b'"n":1', b'"n":true'),
     'line 2: field "n": expected an integer, got true'),
    (_candle(0).replace(b'"volume":1.0,', b""), 'line 1: field "volume": missing'),
    (_candle(0) + b'{"type":"candle","v":1', "line 2: truncated line: input ends mid-record"),
    (b'{"type":"tick","v":1}\n', 'line 1: field "type": unknown record type "tick"'),
])
def test_bad_input_exits_65_naming_line_and_field(data, message):
    r = run("compute-indicators", input=data)
    assert r.returncode == 65
    err = orjson.loads(r.stderr.strip().splitlines()[-1])
    assert err["msg"].startswith(message), err["msg"]
    assert r.stdout == b""


def test_empty_input_gives_empty_output():
    r = run("compute-indicators", input=b"")
    assert r.returncode == 0 and r.stdout == b""


def test_indicators_records_validate():
    lines = candle_lines("XRP_USDT_USDT-5m-futures", "XRP", "5m")[:150]
    out = run("compute-indicators", input=b"".join(lines)).stdout
    r = run("validate-records", "--type", "indicators", input=out)
    assert r.returncode == 0, r.stderr


def test_odd_symbols_are_escaped():
    lines = [_candle(i * 60_000).replace(b'"symbol":"ETH"', b'"symbol":"E%s\\"T"')
             for i in range(30)]
    r = run("compute-indicators", input=b"".join(lines))
    assert r.returncode == 0, r.stderr
    assert {orjson.loads(x)["symbol"] for x in r.stdout.splitlines()} == {'E%s"T'}


def test_parallel_read_gives_the_same_batch_and_the_same_first_error(monkeypatch):
    """Big inputs are parsed by two processes: same columns, series and pass-through, and an
    error is still reported at its own line number, the first one when both halves have one."""
    from perpbot import columns

    a = candle_lines("LTC_BTC-5m", "LTC", "5m")[:3000]
    b = candle_lines("ADA_BTC-5m", "ADA", "5m")[:3000]
    funding = b'{"type":"funding","v":1,"symbol":"LTC","t":1,"rate":0.0001,"premium":null}\n'
    data = b"".join(a[:1500] + b[:1500] + [funding] + a[1500:] + b[1500:])
    one = columns.read_batch(data, jobs=1)
    monkeypatch.setattr(columns, "_PARALLEL_BYTES", 1 << 16)
    two = columns.read_batch(data, jobs=2)
    assert two.series == one.series == [("LTC", "5m"), ("ADA", "5m")]
    assert np.array_equal(two.candle_rows, one.candle_rows)
    assert np.array_equal(two.series_id, one.series_id)
    assert all(np.array_equal(two.cols[k], one.cols[k]) for k in one.cols)
    assert two.others == one.others == {3000: funding}
    bad = data.splitlines(keepends=True)
    bad[4500] = bad[4500].replace(b'"c":', b'"c":"x","_":')
    with pytest.raises(columns.BadInput, match='^line 4501: field "c": expected a number'):
        columns.read_batch(b"".join(bad), jobs=2)
    bad[100] = b"{nope\n"
    with pytest.raises(columns.BadInput, match="^line 101: not valid JSON"):
        columns.read_batch(b"".join(bad), jobs=2)
