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


def test_two_symbols_on_one_account_give_the_same_trades_as_a_pipe(tmp_path):
    """ADA and LTC (5m, the same weeks; ADA's history has gaps) on one account with room for one
    position: the pipe's merged stream and the engine's time-ordered run agree trade for trade."""
    from conftest import write_config
    scale = {"ADA": 1e8, "LTC": 1e4}
    rows = {s: [(*r[:4], *(x * scale[s] for x in r[4:8]), *r[8:])
                for r in market_rows(f"{s}_BTC-5m", s, "5m")] for s in scale}
    cfg = write_config(tmp_path, None, symbols=["ADA", "LTC"], data={"timeframes": ["5m"]},
                       strategy={"timeframe": "5m"}, risk={"max_positions": 1},
                       signals={"entry_z": 1.5, "rsi_overbought": 60.0, "rsi_oversold": 40.0,
                                "adx_max": 100.0})
    with Store.open(tmp_path / "perpbot.db") as st:
        for s in scale:
            st.insert_candles(rows[s])
        st.set_state("exchange_meta", '{"ADA": 0, "LTC": 2}', 0)
    r = replay_pipe(cfg, "ADA LTC", "5m")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    from perpbot import config as config_mod
    data = {s: ({"t": np.array([x[2] for x in rows[s]]),
                 **{k: np.array([x[4 + j] for x in rows[s]]) for j, k in enumerate("ohlc")}},
                [], {"ADA": 0, "LTC": 2}[s]) for s in scale}
    res = engine.run_many("5m", data, RegimeBook([], RegimeConfig()),
                          engine.Setup.from_config(config_mod.load(cfg)))
    fills = [f for f in map(orjson.loads, r.stdout.splitlines()) if f["type"] == "fill"]
    assert sum(len(x.trips) for x in res) >= 10 and all(x.trips for x in res)
    for x in res:
        mine = [f for f in fills if f["symbol"] == x.symbol]
        assert len(mine) == 2 * len(x.trips)
        for op, cl, trip in zip(mine[0::2], mine[1::2], x.trips):
            assert (op["side"], op["size"], op["t"], op["price"]) == \
                (trip["side"], trip["size"], trip["entry_t"], trip["entry_price"])
            assert (cl["t"], cl["price"], cl["reason"]) == \
                (trip["exit_t"], trip["exit_price"], trip["exit_reason"])
            assert cl["pnl"] == pytest.approx(trip["pnl"], rel=1e-12, abs=1e-9)
    # one position at a time across both symbols
    opens = [f for f in fills if f["action"] == "open"]
    closes = [f for f in fills if f["action"] == "close"]
    assert all(c["t"] <= o["t"] for o, c in zip(opens[1:], closes))
