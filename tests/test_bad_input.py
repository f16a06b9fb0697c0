"""Bad input at every stage that reads records: each case gives exit 65 and one stderr line that
names the line and the field (or is processed correctly), and nothing reaches the store.

Line 1 of every input is a valid record the stage passes through (a funding rate), so that the
line numbers are checked too; the case is line 2.
"""

import time

import orjson
import pytest

from conftest import run, write_config
from perpbot.store import Store

T = 1_767_225_600_000            # 2026-01-01T00:00Z
FUNDING = orjson.dumps({"type": "funding", "v": 1, "symbol": "ETH", "t": T, "rate": 0.0001,
                        "premium": None}) + b"\n"

MINIMAL = {
    "candle": {"type": "candle", "v": 1, "symbol": "ETH", "tf": "15m", "t": T,
               "T": T + 899_999, "o": 3000.0, "h": 3010.0, "l": 2990.0, "c": 3005.0,
               "volume": 1.5, "n": 3},
    "indicators": {"type": "indicators", "v": 1, "symbol": "ETH", "tf": "15m", "t": T,
                   "close": 3000.0, "z": -2.5, "bb_mid": 3100.0, "bb_upper": 3200.0,
                   "bb_lower": 3010.0, "rsi": 20.0, "adx": 15.0, "hurst": None},
    "signal": {"type": "signal", "v": 1, "symbol": "ETH", "tf": "15m", "t": T,
               "action": "LONG", "reason": "test", "price": 3000.0, "regime": "NORMAL",
               "thresholds": {}},
    "intent": {"type": "intent", "v": 1, "symbol": "ETH", "t": T, "action": "open",
               "side": "long", "size": 0.5, "price": 3000.0, "reason": "test",
               "cloid": "0x" + "1" * 32},
}
DECISION = {"action": "NONE", "reason": "x", "exit": None, "stop_loss": False}
REPLAY_SIGNAL = {**MINIMAL["signal"], "decisions": {"none": {**DECISION, "action": "LONG"},
                                                    "long": DECISION, "short": DECISION},
                 "open": 3000.0, "high": 3010.0, "low": 2990.0}

# stage -> (arguments, the record it consumes, its time and price fields)
STAGES = {
    "validate-records": ([], MINIMAL["candle"], "t", "c"),
    "compute-indicators": ([], MINIMAL["candle"], "t", "c"),
    "emit-signals": (["--regime", "NORMAL"], MINIMAL["indicators"], "t", "close"),
    "risk-gate": (["--sz-decimals", "ETH=2"], MINIMAL["signal"], "t", "price"),
    "risk-gate --replay": (["--replay", "--sz-decimals", "ETH=2"], REPLAY_SIGNAL, "t", "price"),
    "execute --mode paper": (["--mode", "paper"], MINIMAL["intent"], "t", "price"),
    "execute --mode replay": (["--mode", "replay"], {**MINIMAL["intent"], "decided_at": T + 900_000},
                              "decided_at", "price"),
}


def line(rec) -> bytes:
    return orjson.dumps(rec) + b"\n"


def cases(rec: dict, t_field: str, price_field: str):
    """(name, line 2 as bytes, what the error names, or None: processed, exit 0)."""
    dropped = next(k for k in rec if k not in ("type", "v"))
    yield "truncated JSON", line(rec)[:25], "line 2: truncated line"
    yield "not JSON", b"{nope}\n", "line 2: not valid JSON"
    yield "wrong type", line({**rec, price_field: "abc"}), f'line 2: field "{price_field}": ' \
                                                            f'expected a number, got "abc"'
    yield "missing field", line({k: v for k, v in rec.items() if k != dropped}), \
        f'line 2: field "{dropped}": missing'
    yield "unknown record type", line({"type": "tick", "v": 1}), \
        'line 2: field "type": unknown record type "tick"'
    yield "invalid UTF-8", line(rec).replace(b'"ETH"', b'"\xff\xfe"'), "line 2: not valid JSON"
    price = b'"%s":%s' % (price_field.encode(), orjson.dumps(rec[price_field]))
    for word in ("NaN", "Infinity"):
        bad = line(rec).replace(price, b'"%s":%s' % (price_field.encode(), word.encode()))
        assert bad != line(rec)
        yield word, bad, "line 2: not valid JSON"
    yield "zero price", line({**rec, price_field: 0.0}), \
        f'line 2: field "{price_field}": expected a number > 0, got 0.0'
    yield "negative price", line({**rec, price_field: -5.0}), \
        f'line 2: field "{price_field}": expected a number > 0, got -5.0'
    t = rec[t_field]
    yield "time in seconds", line({**rec, t_field: t // 1000}), \
        f'line 2: field "{t_field}": {t // 1000} looks like seconds, expected milliseconds'
    yield "time in microseconds", line({**rec, t_field: t * 1000}), \
        f'line 2: field "{t_field}": {t * 1000} looks like microseconds, expected milliseconds'
    yield "10 MB line", line({**rec, "note": "x" * (10 << 20)}), None
    yield "schema-minimal", line(rec), None


TABLE = [(stage, name, data, expected) for stage, (_, rec, tf, pf) in STAGES.items()
         for name, data, expected in cases(rec, tf, pf)]
TABLE += [(stage, "high below low", line({**MINIMAL["candle"], "h": 2980.0}),
           'line 2: field "h": expected at least max(o, c), got 2980.0')
          for stage in ("validate-records", "compute-indicators")]


def ledger_rows(db) -> int:
    with Store.open_readonly(db) as st:
        return sum(st.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                   for t in ("trades", "orders", "rejections", "ticks"))


@pytest.mark.parametrize("stage, case, data, expected", TABLE,
                         ids=[f"{s}: {c}" for s, c, _, _ in TABLE])
def test_bad_input(tmp_path, stage, case, data, expected):
    cfg = write_config(tmp_path, None, symbols=["ETH"], strategy={"timeframe": "15m"},
                       data={"timeframes": ["15m"]})
    db = tmp_path / "perpbot.db"
    with Store.open(db) as st:                  # a fresh mid for paper fills: no exchange needed
        st.set_state("mids", orjson.dumps({"received_s": time.time() + 600,
                                           "mids": {"ETH": 3001.0}}).decode(), 0)
    args = STAGES[stage][0]
    r = run(stage.split()[0], *args, "--config", cfg, input=FUNDING + data, timeout=120)
    if expected is None:
        assert r.returncode == 0, r.stderr[-500:]
        assert r.stdout.startswith(FUNDING)
        # processed: a record out for the one in (the replayed entry waits for a next candle)
        assert len(r.stdout) > len(FUNDING) or stage == "risk-gate --replay"
        return
    assert r.returncode == 65, (r.returncode, r.stderr[-500:])
    (err,) = r.stderr.splitlines()
    assert orjson.loads(err)["msg"].startswith(expected), err
    assert b"Traceback" not in r.stderr
    assert ledger_rows(db) == 0                 # nothing half-written


@pytest.mark.parametrize("stage, missing", [
    ("risk-gate --replay", "decisions"), ("execute --mode replay", "decided_at")])
def test_a_replay_names_the_protocol_field_a_record_lacks(tmp_path, stage, missing):
    cfg = write_config(tmp_path, None, symbols=["ETH"], strategy={"timeframe": "15m"},
                       data={"timeframes": ["15m"]})
    Store.open(tmp_path / "perpbot.db").close()
    args, rec, _, _ = STAGES[stage]
    r = run(stage.split()[0], *args, "--config", cfg,
            input=FUNDING + line({k: v for k, v in rec.items() if k != missing}))
    assert r.returncode == 65
    assert orjson.loads(r.stderr)["msg"] == \
        f'line 2: field "{missing}": missing ({"risk-gate --replay" if "risk" in stage else "a replay"} needs it)'


BOOM = """
import click
from perpbot.stage import stage

@click.command()
@stage("boom")
def main(ctx):
    raise ValueError("the unexpected")

main()
"""


def test_an_internal_error_is_one_line_and_exit_70_the_traceback_only_with_verbose():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", BOOM], capture_output=True)
    assert r.returncode == 70
    (err,) = r.stderr.splitlines()
    assert orjson.loads(err)["msg"] == \
        "internal error: ValueError: the unexpected (run with --verbose for the traceback)"
    r = subprocess.run([sys.executable, "-c", BOOM, "--verbose"], capture_output=True)
    assert r.returncode == 70 and b"Traceback" in r.stderr
