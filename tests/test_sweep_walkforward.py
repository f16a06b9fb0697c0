"""Sweeps and walk-forward over the real EURUSD hourly candles."""

import orjson
import pytest

from conftest import market_store, run
from perpbot import config as config_mod
from perpbot.backtest import engine, runs, sweep, walkforward
from perpbot.errors import UsageError
from perpbot.params import RegimeConfig
from perpbot.regime import RegimeBook
from perpbot.store import Store

BOOK = RegimeBook([], RegimeConfig())


@pytest.fixture(scope="module")
def eurusd(tmp_path_factory):
    d = tmp_path_factory.mktemp("eurusd")
    cfg_path = market_store(d, "EURUSD-1h", "EURUSD", "1h")
    cfg = config_mod.load(cfg_path)
    with Store.open_readonly(d / "perpbot.db") as st:
        data = runs.load(st, ["EURUSD"], "1h", None, None)
    return d, cfg_path, cfg, data


def test_ranges_and_combinations():
    assert sweep.parse_range("signals.entry_z=1.5:2.5:0.5") == ("signals.entry_z", [1.5, 2.0, 2.5])
    assert sweep.parse_range("risk.leverage=2,3") == ("risk.leverage", [2, 3])
    with pytest.raises(UsageError):
        sweep.parse_range("entry_z=1")
    r = [("a.x", [1, 2, 3]), ("b.y", [10, 20])]
    assert sweep.combinations(r, "oat") == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3},
                                                 {"b.y": 10}, {"b.y": 20}]
    grid = sweep.combinations(r, "grid")
    assert len(grid) == 6 and {"a.x": 3, "b.y": 20} in grid
    sample = sweep.combinations(r, "random", 4, seed=1)
    assert len(sample) == 4 and all(s in grid for s in sample)
    assert sample == sweep.combinations(r, "random", 4, seed=1)


def test_sweep_rows_equal_single_backtests_in_parallel_and_serial(eurusd):
    d, _, cfg, data = eurusd
    combos = sweep.combinations([("signals.entry_z", [1.8, 2.2, 2.6]),
                                     ("indicators.bb_k", [1.5, 2.0])], "grid")
    par = sweep.run(cfg, data, "1h", BOOK, combos, jobs=2)
    ser = sweep.run(cfg, data, "1h", BOOK, combos, jobs=1)
    assert par == ser
    for c, row in zip(combos, par):
        one = cfg
        for k, v in c.items():
            one = config_mod.override(one, f"{k}={v}")
        candles, funding, sz_decimals = data["EURUSD"]
        res = engine.run("EURUSD", "1h", candles, funding, BOOK, engine.Setup.from_config(one), sz_decimals)
        assert row["trades"] == len(res.trips)
        assert row["total_pnl"] == pytest.approx(sum(x["pnl"] for x in res.trips))


def test_one_at_a_time_robustness():
    rows = [{"a.x": v, "total_pnl": p} for v, p in zip(range(10), [1, 2, 3, 4, 5, 6, 7, -1, -2, -3])]
    rows += [{"b.y": v, "total_pnl": p} for v, p in zip(range(10), [1, 2, 3, 4, 5, 6, -7, -1, -2, -3])]
    got = sweep.robustness(rows, [("a.x", []), ("b.y", [])])
    assert got["a.x"] == {"values": 10, "profitable": 7, "share": 0.7, "verdict": "ROBUST"}
    assert got["b.y"]["verdict"] == "FRAGILE" and got["b.y"]["share"] == 0.6


def test_a_range_that_changes_no_trade_is_no_effect_with_the_rules_reason():
    from types import SimpleNamespace
    cfg = SimpleNamespace(indicators=SimpleNamespace(bb_k=2.0))
    rows = [{"signals.entry_z": v, "trades": 4, "total_pnl": 12.5} for v in (1.0, 1.5, 2.0)]
    rows += [{"signals.exit_z": v, "trades": 4, "total_pnl": 12.5} for v in (0.2, 0.5)]
    got = sweep.robustness(rows, [("signals.entry_z", []), ("signals.exit_z", [])], cfg)
    assert got["signals.entry_z"]["verdict"] == "NO_EFFECT"
    assert "indicators.bb_k = 2" in got["signals.entry_z"]["reason"]
    assert got["signals.exit_z"]["reason"] == "every value gave the same trades"


def test_sweep_cli_writes_ndjson_and_parquet(eurusd, tmp_path):
    import pyarrow.parquet as pq
    d, cfg_path, _, _ = eurusd
    r = run("sweep", "--config", cfg_path, "--symbol", "EURUSD", "--range",
            "signals.entry_z=1.8,2.2,2.6", "--range", "signals.exit_z=0.2,0.5",
            "--jobs", "2", "--out", tmp_path / "s.parquet")
    assert r.returncode == 0, r.stderr
    rows = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 5 and {x["param"] for x in rows} == {"signals.entry_z", "signals.exit_z"}
    verdicts = [orjson.loads(x) for x in r.stderr.splitlines()
                if orjson.loads(x)["msg"] == "robustness"]
    assert verdicts[0]["signals.entry_z"] in ("ROBUST", "FRAGILE")
    assert pq.read_table(tmp_path / "s.parquet").num_rows == 5
    bad = run("sweep", "--config", cfg_path, "--symbol", "EURUSD", "--range", "signals.exit_z=a,b")
    assert bad.returncode == 2 and b'signals.exit_z' in bad.stderr


def test_folds_roll_by_the_step():
    day = 86_400_000
    f = walkforward.folds(0, 100 * day, 60, 15, 15)
    assert f == [(0, 60 * day, 75 * day), (15 * day, 75 * day, 90 * day)]
    assert walkforward.folds(0, 70 * day, 60, 15, 15) == []


def test_fixed_walk_forward_overfit_score(eurusd):
    d, _, cfg, data = eurusd
    res = walkforward.run(cfg, data, "1h", BOOK, "fixed", 60, 15, 15)
    assert len(res["folds"]) >= 10
    for f in res["folds"]:
        is_s, oos_s = f["in_sample"]["sharpe"], f["out_of_sample"]["sharpe"]
        if is_s is not None and oos_s is not None:
            assert f["overfit"] == pytest.approx(is_s - oos_s)
            worse = oos_s < is_s
            assert (f["overfit"] > 0) == worse          # the sign says the same for every input
        assert f["train"][1] == f["test"][0] and f["test"][1] - f["test"][0] == 15 * 86_400_000
    oos = res["out_of_sample"]
    assert oos["trades"] == sum(f["out_of_sample"]["trades"] for f in res["folds"])
    assert oos["total_pnl"] == pytest.approx(sum(f["out_of_sample"]["total_pnl"]
                                                 for f in res["folds"]))


def test_optimise_picks_the_train_windows_best_by_the_objective(eurusd):
    d, _, cfg, data = eurusd
    ranges = [("signals.entry_z", [1.8, 2.4]), ("signals.exit_z", [0.2, 0.6])]
    res = walkforward.run(cfg, data, "1h", BOOK, "optimise", 60, 15, 30, ranges, "return",
                          jobs=2)
    f0 = res["folds"][0]
    a, b = f0["train"]
    combos = sweep.combinations(ranges, "grid")
    warm = cfg.indicators.converged() * 3_600_000
    rows = sweep.run(cfg, walkforward._window(data, a, b, warm), "1h", BOOK, combos, 1, trade_from=a)
    best = max(zip(combos, rows), key=lambda cr: cr[1]["return"])[0]
    assert f0["params"] == best
    assert f0["in_sample"]["return"] == pytest.approx(
        max(r["return"] for r in rows))
