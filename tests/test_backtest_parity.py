"""The same backtest run as a pipe of the live stages gives the same trades, to the last fill:
fetch-candles --from-store | compute-indicators | emit-signals --replay | risk-gate --replay |
execute --mode replay, against backtest.engine.run in one process, on the real candles."""

import json

import numpy as np
import orjson
import pytest

from conftest import market_rows, market_store, replay_pipe, shared_file
from perpbot.backtest import engine
from perpbot.hl import parse
from perpbot.params import RegimeConfig
from perpbot.regime import RegimeBook
from perpbot.store import Store

CASES = [("EURUSD-1h", "EURUSD", "1h", None, 0),
         ("XRP_USDT_USDT-5m-futures", "XRP", "5m", "XRP_USDT_USDT-8h-funding", 0),
         ("LTC_BTC-5m", "LTC", "5m", None, 2)]


@pytest.mark.parametrize("name, symbol, tf, funding, sz_decimals", CASES)
def test_pipe_and_backtest_give_the_same_trades(tmp_path, name, symbol, tf, funding, sz_decimals):
    rows = market_rows(name, symbol, tf)
    fund = []
    if funding:
        fund = [parse.funding_row(f, symbol) for f in
                json.loads(shared_file(f"markets/{funding}.json").read_text())]
    # LTC/BTC trades around 0.017: scale it so that sz_decimals of 0.01 are orders of $10 or more
    if symbol == "LTC":
        rows = [(*r[:4], *(x * 10_000 for x in r[4:8]), *r[8:]) for r in rows]
    cfg = market_store(tmp_path, name, symbol, tf, sz_decimals, rows)
    with Store.open(tmp_path / "perpbot.db") as st:
        st.insert_funding(fund)
    r = replay_pipe(cfg, symbol, tf)
    assert r.returncode == 0, r.stderr.decode()[-2000:]

    candles = {"t": np.array([x[2] for x in rows]), "o": np.array([x[4] for x in rows]),
               "h": np.array([x[5] for x in rows]), "l": np.array([x[6] for x in rows]),
               "c": np.array([x[7] for x in rows])}
    res = engine.run(symbol, tf, candles, fund, RegimeBook([], RegimeConfig()), engine.Setup(), sz_decimals)
    assert len(res.trips) >= 3

    # a replay writes no ledger: its fills are its output
    with Store.open_readonly(tmp_path / "perpbot.db") as st:
        assert st.conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 0
        assert st.conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0
    fills = [f for f in map(orjson.loads, r.stdout.splitlines()) if f["type"] == "fill"]
    assert all(f["mode"] == "replay" for f in fills)
    trades = [(f["action"], f["side"], f["size"], f["price"], f["t"], f["fee"],
               f.get("funding") or 0.0, f.get("pnl"), f["reason"]) for f in fills]
    pairs = list(zip(trades[0::2], trades[1::2]))
    assert len(pairs) == len(res.trips) and len(trades) == 2 * len(res.trips)
    for (op, cl), trip in zip(pairs, res.trips):
        assert (op[0], cl[0]) == ("open", "close")
        assert (op[1], op[2], op[4]) == (trip["side"], trip["size"], trip["entry_t"])
        assert op[3] == trip["entry_price"] and cl[3] == trip["exit_price"]
        assert cl[4] == trip["exit_t"] and cl[8] == trip["exit_reason"]
        assert op[5] + cl[5] == pytest.approx(trip["fees"], rel=1e-12)
        assert cl[6] == pytest.approx(trip["funding"], rel=1e-12, abs=1e-12)
        assert cl[7] == pytest.approx(trip["pnl"], rel=1e-12, abs=1e-9)
