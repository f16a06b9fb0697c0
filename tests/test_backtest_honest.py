"""What a backtest assumes, said and modelled as the loop meets it: gaps in the candles, stops
through gaps, funding while a position is open, several symbols on one account."""

from dataclasses import replace

import numpy as np
import pytest

from test_backtest_engine import FIXED, LOOSE, NO_REGIME, frame, market, oscillation
from perpbot.backtest import engine, runs
from perpbot.params import BacktestParams, RiskParams, SignalParams

H = 3_600_000
# rules that read no clock: the only difference a gap can make is which candles are present
TIMELESS = RiskParams(timeout_hours=1e6, cooldown_minutes=0, daily_loss_cap_pct=1.0,
                      losing_weeks_halt=0)


def relabel(cd):
    """The same candles, one interval apart: the gap-free history of what is present."""
    return {**cd, "t": cd["t"][0] + np.arange(len(cd["t"])) * H}


@pytest.mark.parametrize("fill_at, delay", [("close", 1), ("open", 1), ("close", 2), ("open", 3)])
def test_candles_missing_where_entries_fall_due_do_not_stop_the_account(fill_at, delay):
    cd = market("EURUSD-1h")
    setup = engine.Setup(signals=LOOSE, risk=TIMELESS, costs=FIXED,
                         backtest=BacktestParams(entry_delay=delay, fill_at=fill_at))
    full = engine.run("EURUSD", "1h", cd, [], NO_REGIME, setup, 0)
    # delete the candle each of the first 15 entries filled on (and, for open fills, the one
    # before it, where cancel-if-signal-gone looks)
    due = [x["entry_t"] - (H if fill_at == "close" else 0) for x in full.trips[:15]]
    drop = set(due) | ({t - H for t in due} if fill_at == "open" else set())
    keep = ~np.isin(cd["t"], list(drop))
    gapped = {k: v[keep] for k, v in cd.items()}
    got = engine.run("EURUSD", "1h", gapped, [], NO_REGIME, setup, 0)
    # trading goes on after the last deleted candle, about as often as without the gaps
    assert sum(x["entry_t"] > max(drop) for x in got.trips) >= 0.5 * sum(
        x["entry_t"] > max(drop) for x in full.trips) > 10
    # and it is the gap-free run of the candles present, trade for trade
    ref = engine.run("EURUSD", "1h", relabel(gapped), [], NO_REGIME, setup, 0)
    back = dict(zip(relabel(gapped)["t"].tolist(), gapped["t"].tolist()))

    def at(t):                      # a relabelled fill time (a close or an open) -> real time
        return back[t - H] + H if t - H in back else back[t]
    assert len(got.trips) == len(ref.trips)
    for a, b in zip(got.trips, ref.trips):
        assert (a["entry_t"], a["exit_t"]) == (at(b["entry_t"]), at(b["exit_t"]))
        for k in ("side", "size", "entry_price", "exit_price", "exit_reason", "pnl"):
            assert a[k] == b[k], k
    assert got.cancelled == ref.cancelled


def test_a_delayed_entry_waits_for_the_next_candle_present():
    cd = frame(oscillation())
    setup = engine.Setup(signals=LOOSE, costs=FIXED, risk=TIMELESS,
                         backtest=BacktestParams(entry_delay=1, cancel_if_signal_gone=False))
    first = engine.run("X", "1h", cd, [], NO_REGIME, setup, 2).trips[0]
    fill = first["entry_t"] - H                         # the candle it filled at the close of
    keep = (cd["t"] != fill) & (cd["t"] != fill + H)    # two candles gone
    gapped = {k: v[keep] for k, v in cd.items()}
    trip = engine.run("X", "1h", gapped, [], NO_REGIME, setup, 2).trips[0]
    k = int(np.searchsorted(gapped["t"], fill))          # the first candle present after
    assert trip["entry_t"] == gapped["t"][k] + H == fill + 3 * H
    assert trip["entry_price"] == gapped["c"][k]


def stop_case(side_open_past: float):
    c = list(oscillation(60, seed=1))
    cd = frame(c)
    sp = SignalParams(entry_z=1.0, rsi_oversold=60.0, rsi_overbought=40.0, adx_max=100.0)
    base = engine.Setup(signals=sp, costs=FIXED, backtest=BacktestParams(entry_delay=0))
    trip = engine.run("X", "1h", cd, [], NO_REGIME, base, 2).trips[0]
    k = int(np.searchsorted(cd["t"] + H, trip["entry_t"])) + 1
    long = trip["side"] == "long"
    e = trip["entry_price"]
    cd["o"][k] = e * (1 - side_open_past if long else 1 + side_open_past)
    cd["l"][k] = min(cd["l"][k], cd["o"][k], e * 0.96)
    cd["h"][k] = max(cd["h"][k], cd["o"][k]) if long else max(cd["h"][k], e * 1.04)
    return cd, base, trip, k


def test_a_stop_the_candle_opens_past_fills_at_that_open():
    cd, base, trip, k = stop_case(0.05)
    r = engine.run("X", "1h", cd, [], NO_REGIME, base, 2)
    stopped = r.trips[0]
    long = trip["side"] == "long"
    stop = trip["entry_price"] * (0.97 if long else 1.03)
    assert stopped["exit_reason"] == "exchange_stop" and stopped["exit_t"] == cd["t"][k] + H
    assert stopped["exit_price"] == cd["o"][k]                  # no slippage here
    assert (stopped["exit_price"] < stop) if long else (stopped["exit_price"] > stop)
    assert r.gapped_stops == 1
    assert r.gap_loss == pytest.approx(abs(stop - cd["o"][k]) * trip["size"], rel=1e-12)
    # a taker fee on the open's notional
    assert stopped["fees"] == pytest.approx(trip["size"] * (trip["entry_price"] * 0.00015 +
                                                            cd["o"][k] * 0.00045))


def test_a_stop_the_candle_opens_short_of_fills_at_the_stop():
    cd, base, trip, k = stop_case(0.01)                         # opens inside, trades through
    r = engine.run("X", "1h", cd, [], NO_REGIME, base, 2)
    stop = trip["entry_price"] * (0.97 if trip["side"] == "long" else 1.03)
    assert r.trips[0]["exit_reason"] == "exchange_stop"
    assert r.trips[0]["exit_price"] == pytest.approx(stop, rel=1e-15)
    assert r.gapped_stops == 0 and r.gap_loss == 0.0


HOLD = engine.Setup(signals=SignalParams(entry_z=1.5, rsi_overbought=60.0, rsi_oversold=40.0,
                                         adx_max=100.0, exit_z=-10.0, stop_z=100.0),
                    risk=RiskParams(timeout_hours=1e6, capital_stop_pct=10.0),
                    costs=FIXED, backtest=BacktestParams(entry_delay=0, exchange_stop_pct=10.0))


@pytest.mark.parametrize("fast", [True, False])
def test_the_equity_curve_carries_the_funding_of_an_open_position(fast):
    cd = frame(oscillation(200, seed=11))
    cd["t"] = cd["t"] + 1_700_000_000_000 // H * H
    rates = [("X", int(t) + H + 7, 0.0001 * (1 + (k % 3)), 0.0) for k, t in enumerate(cd["t"])]
    r = engine.run("X", "1h", cd, rates, NO_REGIME, HOLD, 2, fast=fast)
    (trip,) = r.trips
    sign = 1.0 if trip["side"] == "long" else -1.0
    rate = {t - t % H: x for _, t, x, _ in rates}
    close = dict(zip((cd["t"] + H).tolist(), cd["c"].tolist()))
    paid = 0.0
    checked = 0
    for t, eq in zip(r.equity_t.tolist(), r.equity.tolist()):
        if trip["entry_t"] < t < trip["exit_t"]:
            paid += -sign * trip["size"] * close[t] * rate[t]   # the hour t, at the close then
            want = 10_000 + sign * (close[t] - trip["entry_price"]) * trip["size"] + paid
            assert eq == pytest.approx(want, rel=1e-12)
            checked += 1
    assert checked > 50 and abs(paid) > 1.0
    # the trip books the same funding at its exit, and the curve ends on its PnL
    last = -sign * trip["size"] * close[trip["exit_t"]] * rate[trip["exit_t"]]
    assert trip["funding"] == pytest.approx(paid + last, rel=1e-12)
    assert r.equity[-1] == pytest.approx(10_000 + trip["pnl"], rel=1e-12)


def test_the_rate_of_a_runs_last_hour_is_loaded(tmp_path):
    from perpbot.store import Store
    t0 = 1_700_000_000_000 // H * H
    with Store.open(tmp_path / "perpbot.db") as st:
        st.insert_candles([("X", "1h", t0 + k * H, t0 + (k + 1) * H - 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1)
                           for k in range(10)])
        st.insert_funding([("X", t0 + k * H + 5, 1e-5, 0.0) for k in range(1, 11)])
        data = runs.load(st, ["X"], "1h", None, None, {"X": 0})
    hours = [r[1] - r[1] % H for r in data["X"][1]]
    assert hours == [t0 + k * H for k in range(1, 11)]      # the last close's hour included
    assert runs.funding_coverage(data, "1h")["missing"] == 0


def two_markets():
    """ADA and LTC against BTC, 5m, the same weeks (ADA's history has real gaps)."""
    ada, ltc = market("ADA_BTC-5m"), market("LTC_BTC-5m")
    for cd, scale in ((ada, 1e8), (ltc, 1e4)):
        for k in "ohlc":
            cd[k] = cd[k] * scale
    return {"ADA": (ada, [], 0), "LTC": (ltc, [], 2)}


def test_several_symbols_trade_on_one_account():
    data = two_markets()
    one = replace(engine.Setup(signals=LOOSE), risk=RiskParams(max_positions=1))
    shared = engine.run_many("5m", data, NO_REGIME, one)
    apart = engine.run_many("5m", data, NO_REGIME, one, separate=True)

    def overlaps(results):
        trips = sorted((x for r in results for x in r.trips), key=lambda x: x["entry_t"])
        return sum(b["entry_t"] < a["exit_t"] for a, b in zip(trips, trips[1:]))
    assert all(r.trips for r in shared)
    assert overlaps(shared) == 0 < overlaps(apart)      # max_positions 1 holds across symbols
    assert sum(r.rejected.get("max_positions", 0) for r in shared) > 0
    # one equity: an entry is sized on the capital plus everything realized before it
    trips = sorted((x for r in shared for x in r.trips), key=lambda x: x["exit_t"])
    assert all(r.symbol in ("ADA", "LTC") for r in shared)
    # the stepped and the fast runs agree on a shared account too
    slow = engine.run_many("5m", data, NO_REGIME, one, fast=False)
    assert [r.trips for r in slow] == [r.trips for r in shared]
    for a, b in zip(slow, shared):
        assert np.array_equal(a.equity, b.equity)
    assert trips


def test_one_symbol_on_its_own_account_is_the_run_it_always_was():
    data = two_markets()
    s = engine.Setup(signals=LOOSE)
    (alone,) = engine.run_many("5m", {"LTC": data["LTC"]}, NO_REGIME, s)
    assert alone.trips == engine.run("LTC", "5m", *data["LTC"][:2], NO_REGIME, s, 2).trips


def test_gaps_are_counted_and_named():
    data = two_markets()
    g = runs.gaps(data, "5m")
    assert g["count"] > 0 and g["missing_candles"] >= 40        # 5760 - 5720 candles
    assert all(x["symbol"] == "ADA" for x in g["first"])
    assert g["longest"]["missing_candles"] == max(x["missing_candles"] for x in g["first"]) or \
        g["longest"]["missing_candles"] >= max(x["missing_candles"] for x in g["first"])


def test_the_backtest_says_what_it_assumed(tmp_path):
    import orjson

    from conftest import market_rows, market_store, run
    rows = market_rows("EURUSD-1h", "EURUSD", "1h")
    cfg = market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h", rows=rows)
    r = run("backtest", "--config", cfg, "--symbol", "EURUSD")
    assert r.returncode == 0, r.stderr
    said = [orjson.loads(x)["msg"] for x in r.stderr.splitlines()]
    assert any(m.startswith("candles: ") and "gaps" in m for m in said)          # weekends
    assert any(m.startswith("warm-up: EURUSD trades after 0 candles") for m in said)
    hours = orjson.loads(r.stdout)["funding_hours"]
    assert f"funding: {hours['missing']} of {hours['hours']} hours missing; their funding is " \
           "taken as zero" in said and hours["missing"] == hours["hours"] > 0
    # with --start, the history before it warms the indicators up: no warm-up line
    r = run("backtest", "--config", cfg, "--symbol", "EURUSD", "--start", "2017-09-01")
    assert r.returncode == 0 and b"warm-up" not in r.stderr
    doc = orjson.loads(r.stdout)
    assert doc["warmup"]["EURUSD"]["candles_before_trading"] >= doc["warmup"]["EURUSD"]["needed"]["adx"]
    assert doc["start"] >= 1504224000000
    # --require-funding: an error, one line, nothing stored
    r = run("backtest", "--config", cfg, "--symbol", "EURUSD", "--require-funding")
    assert r.returncode == 2 and r.stdout == b""
    (line,) = r.stderr.splitlines()
    assert b"hours missing and funding is required" in line
