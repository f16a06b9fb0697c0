"""Optuna sweeps (seeded, resumable, several objectives) and the best point's neighbourhood."""

import orjson
import pytest

from conftest import market_store, ndjson, run
from perpbot.backtest import search

RANGES = ["--range", "signals.entry_z=1.5:2.9:0.1", "--range", "signals.exit_z=0.1,0.2,0.3,0.5"]


@pytest.fixture
def eurusd(tmp_path):
    return market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h")


def said(err: bytes, msg: str) -> list[dict]:
    return [r for r in ndjson(err) if r["msg"].startswith(msg)]


def test_an_optuna_sweep_is_seeded_runs_grid_values_and_resumes_its_study(eurusd, tmp_path):
    args = ["sweep", "--config", eurusd, "--symbol", "EURUSD", "--mode", "optuna", *RANGES,
            "--jobs", "2"]
    a = run(*args, "--trials", "10", "--storage", f"sqlite:///{tmp_path}/a.db")
    b = run(*args, "--trials", "10", "--storage", f"sqlite:///{tmp_path}/b.db")
    assert a.returncode == b.returncode == 0, a.stderr
    ra, rb = ndjson(a.stdout), ndjson(b.stdout)
    assert len(ra) == 10 and ra == rb                       # the seed decides the study
    entry = [round(1.5 + k * 0.1, 10) for k in range(15)]
    assert all(r["signals.entry_z"] in entry and r["signals.exit_z"] in (0.1, 0.2, 0.3, 0.5)
               for r in ra)
    assert [r["trial"] for r in ra] == list(range(10))
    # every trial's row is the backtest of its own parameters (the grid, in this process)
    g = run("sweep", "--config", eurusd, "--symbol", "EURUSD", "--mode", "grid", *RANGES,
            "--jobs", "1")
    grid = {(r["signals.entry_z"], r["signals.exit_z"]): r for r in ndjson(g.stdout)}
    for r in ra:
        trial = dict(r)
        del trial["trial"]
        assert trial == grid[(r["signals.entry_z"], r["signals.exit_z"])], r["trial"]
    # the same sweep asked for 16 trials runs the 6 its study lacks
    c = run(*args, "--trials", "16", "--storage", f"sqlite:///{tmp_path}/a.db")
    assert c.returncode == 0 and [r["trial"] for r in ndjson(c.stdout)] == list(range(10, 16))
    (best,) = said(c.stderr, "best trial")
    top = max(ra + ndjson(c.stdout), key=lambda r: r["sharpe"] if r["sharpe"] is not None else -1e9)
    assert best["trials"][0]["trial"] == top["trial"]
    assert best["trials"][0]["params"] == {"signals.entry_z": top["signals.entry_z"],
                                           "signals.exit_z": top["signals.exit_z"]}


def test_two_objectives_give_the_pareto_front(eurusd, tmp_path):
    r = run("sweep", "--config", eurusd, "--symbol", "EURUSD", "--mode", "optuna", *RANGES,
            "--trials", "12", "--objective", "sharpe", "--objective", "max_drawdown",
            "--jobs", "1", "--storage", f"sqlite:///{tmp_path}/s.db")
    assert r.returncode == 0, r.stderr
    (line,) = said(r.stderr, "pareto front")
    got = ndjson(r.stdout)
    front = {t["trial"] for t in line["trials"]}
    assert front
    # no trial of the front is beaten on both objectives by another trial
    for t in front:
        x = got[t]
        assert not any(y["sharpe"] > x["sharpe"] and y["max_drawdown"] < x["max_drawdown"]
                       for y in got if y["sharpe"] is not None)


def test_a_grid_sweep_judges_its_best_point_by_its_neighbours(eurusd):
    r = run("sweep", "--config", eurusd, "--symbol", "EURUSD", "--mode", "grid", *RANGES,
            "--jobs", "2")
    assert r.returncode == 0, r.stderr
    (line,) = said(r.stderr, "best point ")
    got = ndjson(r.stdout)
    best = max((x for x in got if x["sharpe"] is not None), key=lambda x: x["sharpe"])
    assert line["params"] == {"signals.entry_z": best["signals.entry_z"],
                              "signals.exit_z": best["signals.exit_z"]}
    assert line["verdict"] in ("ROBUST", "FRAGILE") and line["best"] == best["sharpe"]


def test_a_best_point_on_a_cliff_is_fragile():
    ranges = [("a", [1, 2, 3]), ("b", [10, 20])]

    def row(a, b, sharpe):
        return {"a": a, "b": b, "sharpe": sharpe}
    smooth = [row(1, 10, 0.8), row(2, 10, 1.0), row(3, 10, 0.9), row(2, 20, 0.7)]
    hood = search.neighbourhood(smooth[1], smooth, ranges, "sharpe", lambda cs: [])
    assert hood["verdict"] == "ROBUST" and hood["neighbours"] == {
        "a": {"-1": 0.8, "+1": 0.9}, "b": {"+1": 0.7}}
    assert hood["spread"] == pytest.approx(0.3)
    cliff = [row(1, 10, 0.8), row(2, 10, 1.0), row(3, 10, -0.5)]
    ran = []
    hood = search.neighbourhood(cliff[1], cliff, ranges, "sharpe",
                                lambda cs: ran.extend(cs) or [{**c, "sharpe": 0.9} for c in cs])
    assert ran == [{"a": 2, "b": 20}]                       # the neighbour no row had
    assert hood["verdict"] == "FRAGILE" and hood["cliffs"] == ["a +1 step: sharpe 1 -> -0.5"]


def test_walk_forward_can_search_each_fold_with_optuna(eurusd):
    r = run("walk-forward", "--config", eurusd, "--symbol", "EURUSD", "--mode", "optimise",
            "--search", "optuna", "--samples", "6", *RANGES, "--step-days", "60", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    doc = orjson.loads(r.stdout)
    assert len(doc["folds"]) >= 3 and all(f["params"] for f in doc["folds"])


def test_sweep_rows_come_in_the_order_of_the_combinations(eurusd):
    r = run("sweep", "--config", eurusd, "--symbol", "EURUSD", "--mode", "grid", *RANGES,
            "--jobs", "2")
    assert r.returncode == 0, r.stderr
    got = [(x["signals.entry_z"], x["signals.exit_z"]) for x in ndjson(r.stdout)]
    entry = [round(1.5 + k * 0.1, 10) for k in range(15)]
    assert got == [(e, x) for e in entry for x in (0.1, 0.2, 0.3, 0.5)]


def test_rows_in_order_hold_what_finishes_early():
    from perpbot.backtest import sweep
    held: dict = {}
    out = []
    for row in sweep.in_order(iter([(2, "c"), (0, "a"), (3, "d"), (1, "b")]), held):
        out.append(row)
        if row == "a":
            assert held == {2: "c"}
    assert out == ["a", "b", "c", "d"] and held == {}
