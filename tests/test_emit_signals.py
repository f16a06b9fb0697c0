"""emit-signals through a real pipe: positions from the store or flags, --latest, --track."""

import orjson

from conftest import run, write_config
from perpbot.store import Store


BASE = 1_767_225_600_000          # 2026-01-01: the rows' times are offsets from it (ms)


def ind(t, z, rsi=50.0, adx=20.0, close=100.0, symbol="ETH"):
    return orjson.dumps({"type": "indicators", "v": 1, "symbol": symbol, "tf": "15m", "t": BASE + t,
                         "close": close, "z": z, "bb_mid": 100.0, "bb_upper": 110.0,
                         "bb_lower": 90.0, "rsi": rsi, "adx": adx, "hurst": 0.4}) + b"\n"


ENTRY_LONG = dict(z=-2.5, rsi=25.0, close=89.0)
ROWS = [ind(0, None), ind(1, **ENTRY_LONG), ind(2, -1.0), ind(3, 0.1), ind(4, **ENTRY_LONG)]


def actions(r):
    assert r.returncode == 0, r.stderr
    return [orjson.loads(x)["action"] for x in r.stdout.splitlines()]


def test_flat_without_store(tmp_path):
    assert actions(run("emit-signals", input=b"".join(ROWS), cwd=tmp_path)) == \
        ["NONE", "LONG", "NONE", "NONE", "LONG"]


def test_track_follows_its_own_entries_and_exits(tmp_path):
    assert actions(run("emit-signals", "--track", input=b"".join(ROWS), cwd=tmp_path)) == \
        ["NONE", "LONG", "NONE", "CLOSE", "LONG"]


def test_position_flag(tmp_path):
    got = actions(run("emit-signals", "--position", "ETH=long", input=b"".join(ROWS), cwd=tmp_path))
    assert got == ["NONE", "NONE", "NONE", "CLOSE", "NONE"]
    r = run("emit-signals", "--position", "ETH=sideways", input=b"", cwd=tmp_path)
    assert r.returncode == 2 and b"expected SYMBOL=long|short|flat" in r.stderr


def test_open_position_from_the_store(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["ETH"])
    st = Store.open(tmp_path / "perpbot.db")
    st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, fee, mode,"
                    " action) VALUES ('1', '0x01', 'ETH', 10, 'short', 1.0, 100.0, 0.0, 'paper',"
                    " 'open')")
    st.close()
    got = actions(run("emit-signals", "--config", cfg, input=ind(20, 0.1), cwd=tmp_path))
    assert got == ["CLOSE"]                          # a short takes profit at z = 0.1
    got = actions(run("emit-signals", "--config", cfg, "--no-store", input=ind(20, 0.1),
                      cwd=tmp_path))
    assert got == ["NONE"]


def test_latest_only_the_last_row_of_each_series(tmp_path):
    rows = ROWS + [ind(0, 0.0, symbol="BTC"), ind(1, 2.5, rsi=80.0, close=111.0, symbol="BTC")]
    r = run("emit-signals", "--latest", input=b"".join(rows), cwd=tmp_path)
    recs = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert [(x["symbol"], x["t"] - BASE, x["action"]) for x in recs] == [("ETH", 4, "LONG"),
                                                                         ("BTC", 1, "SHORT")]


def test_regime_flag_and_pass_through(tmp_path):
    funding = b'{"type":"funding","v":1,"symbol":"ETH","t":1767225600001,"rate":0.0,"premium":0.0}\n'
    r = run("emit-signals", "--regime", "CRISIS", input=funding + ind(1, **ENTRY_LONG),
            cwd=tmp_path)
    out = r.stdout.splitlines(keepends=True)
    assert out[0] == funding
    rec = orjson.loads(out[1])
    assert rec["action"] == "NONE" and rec["regime"] == "CRISIS"
    assert rec["thresholds"]["entries"] is False
    assert run("validate-records", input=r.stdout).returncode == 0


def test_bad_indicators_record_exits_65(tmp_path):
    bad = ind(1, "high")
    r = run("emit-signals", input=ind(0, 1.0) + bad, cwd=tmp_path)
    assert r.returncode == 65
    assert orjson.loads(r.stderr.splitlines()[-1])["msg"] == ('line 2: field "z": expected a number or null, '
                                            'got "high"')


def test_says_when_there_are_no_regime_snapshots(tmp_path):
    r = run("emit-signals", input=ind(0, 0.0), cwd=tmp_path)
    msgs = [orjson.loads(x)["msg"] for x in r.stderr.splitlines()]
    assert msgs == ["no regime snapshots in the store: every row runs as NORMAL"]
    r = run("emit-signals", "--regime", "DOVISH", input=ind(0, 0.0), cwd=tmp_path)
    assert r.stderr == b""
