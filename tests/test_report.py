"""Reports: the weekly review and the comparison with numbers worked out here, the verdict at
its thresholds, and the HTML page's inline SVG."""


import orjson
import pytest

from conftest import run, write_config
from perpbot import report
from perpbot.regime import Regime
from perpbot.store import Store
from perpbot.timeutil import parse_time

H = 3_600_000
WEEK = "2026-W10"
MON = parse_time("2026-03-02")          # Monday of ISO week 10


def trade(st, k, t, action, side, price, pnl=None, reason="signal", fee=1.0, funding=0.0):
    st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, fee, mode,"
                    " action, reason, slippage, funding, pnl) VALUES (?, ?, 'ETH', ?, ?, 1.0, ?, ?,"
                    " 'paper', ?, ?, 0.0001, ?, ?)",
                    (f"tr{k}", f"0x{k:032x}", t, side, price, fee, action, reason, funding, pnl))


@pytest.fixture
def week(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["ETH"])
    with Store.open(tmp_path / "perpbot.db") as st:
        # the week before lost 50 (it sets the capital the week starts with)
        trade(st, 0, MON - 10 * H, "open", "long", 100.0)
        trade(st, 1, MON - 5 * H, "close", "long", 95.0, pnl=-50.0, reason="capital_stop")
        # this week: +30 (take profit), -10 (z_stop), +20 (take profit, funding -2)
        trade(st, 2, MON + 1 * H, "open", "long", 100.0)
        trade(st, 3, MON + 3 * H, "close", "long", 103.0, pnl=30.0, reason="take_profit")
        trade(st, 4, MON + 24 * H, "open", "short", 100.0)
        trade(st, 5, MON + 25 * H, "close", "short", 101.0, pnl=-10.0, reason="z_stop")
        trade(st, 6, MON + 48 * H, "open", "short", 100.0)
        trade(st, 7, MON + 50 * H, "close", "short", 98.0, pnl=20.0, reason="take_profit",
              funding=-2.0)
        for k, reason in enumerate(["cooldown", "cooldown", "max_positions"]):
            st.record_rejection({"symbol": "ETH", "t": MON + (60 + k) * H, "action": "LONG",
                                 "reason": reason, "regime": "NORMAL"}, "paper")
        # HIGH_RISK from Wednesday 00:00 for 24 hours (then stale: the fail-safe, HIGH_RISK)
        for h in range(48, 72):
            st.insert_regime(Regime(MON + h * H, "HIGH_RISK", 0.5, None, MON + h * H, "t"))
    return cfg, tmp_path


def test_weekly_review_numbers(week):
    cfg, tmp = week
    r = run("report", "weekly", "--week", WEEK, "--json", "--config", cfg)
    assert r.returncode == 0, r.stderr
    rep = orjson.loads(r.stdout)
    assert rep["week"] == WEEK and rep["from"] == MON and rep["to"] == MON + 7 * 24 * H
    assert rep["trades"] == 3 and rep["pnl"] == pytest.approx(40.0)
    assert rep["win_rate"] == pytest.approx(2 / 3)
    assert rep["avg_win"] == pytest.approx(25.0) and rep["avg_loss"] == pytest.approx(-10.0)
    # per-trade Sharpe: mean 13.333 over the sample std of (30, -10, 20)
    import statistics
    assert rep["per_trade_sharpe"] == pytest.approx(
        statistics.mean([30, -10, 20]) / statistics.stdev([30, -10, 20]))
    assert rep["exit_reasons"] == {"take_profit": 2, "z_stop": 1}
    assert rep["fees"] == pytest.approx(6.0) and rep["funding"] == pytest.approx(-2.0)
    assert rep["refused_entries"] == {"cooldown": 2, "max_positions": 1}
    # NORMAL until Wednesday (48 h, no snapshot yet), HIGH_RISK for its 24 snapshots, then the
    # last snapshot holds its 60 minutes and the fail-safe keeps HIGH_RISK
    assert rep["regime_hours"] == {"NORMAL": 48, "HIGH_RISK": 120}
    # equity from 9,950 (the week before lost 50): 9,980 -> 9,970 -> 9,990; max drawdown 10
    assert rep["equity"][0] == pytest.approx(9_950.0)
    assert rep["max_drawdown_usd"] == pytest.approx(10.0)
    assert rep["losing_weeks"] == 0                       # this week made money


def test_weekly_table_on_a_terminal_json_in_a_pipe_and_bad_week(week):
    from test_readable import run_on_a_terminal
    cfg, _ = week
    code, text = run_on_a_terminal("report", "weekly", "--week", WEEK, "--config", cfg)
    assert code == 0 and text.lstrip().startswith(f"weekly {WEEK}") and "win_rate" in text
    r = run("report", "weekly", "--week", WEEK, "--config", cfg)
    assert r.returncode == 0 and orjson.loads(r.stdout)["week"] == WEEK
    bad = run("report", "weekly", "--week", "2026-10", "--config", cfg)
    assert bad.returncode == 2 and b"expected YYYY-Www" in bad.stderr


@pytest.mark.parametrize("pnl_pct, wr_pts, want", [
    (50.0, 0.0, "MODERATE"), (50.01, 0.0, "SIGNIFICANT"), (25.0, 10.0, "CONSISTENT"),
    (25.01, 0.0, "MODERATE"), (0.0, 10.01, "MODERATE"), (0.0, 20.0, "MODERATE"),
    (0.0, 20.01, "SIGNIFICANT"), (-60.0, 0.0, "SIGNIFICANT"), (None, None, "CONSISTENT")])
def test_verdict_thresholds(pnl_pct, wr_pts, want):
    assert report.verdict(pnl_pct, wr_pts) == want


def trip(t, side, pnl, price=100.0, symbol="ETH"):
    return {"symbol": symbol, "side": side, "entry_t": t, "exit_t": t + H, "entry_price": price,
            "pnl": pnl}


def test_compare_matches_one_to_one_and_counts_missed_and_extra():
    m15 = 900_000
    live = [trip(0, "long", 10.0, 100.05), trip(10 * H, "short", -5.0, 99.9),
            trip(30 * H, "long", 8.0)]
    bt = [trip(m15, "long", 12.0, 100.0), trip(10 * H + m15, "short", 4.0, 100.0),
          trip(20 * H, "long", 6.0)]
    rep = report.compare(live, bt, m15, 0, 40 * H)
    assert (rep["matched"], rep["missed"], rep["extra"]) == (2, 1, 1)
    assert rep["missed_trades"][0]["entry_t"] == 20 * H
    assert rep["extra_trades"][0]["entry_t"] == 30 * H
    # entry slippage: the long paid 5 bps more, the short sold 10 bps lower: mean 7.5 bps worse
    assert rep["entry_slippage_bps_mean"] == pytest.approx(7.5)
    assert rep["live_pnl"] == pytest.approx(13.0) and rep["backtest_pnl"] == pytest.approx(22.0)
    assert rep["pnl_diff_pct"] == pytest.approx((13 - 22) / 22 * 100)     # -40.9%
    assert rep["win_rate_diff_pts"] == pytest.approx(200 / 3 - 100)       # 66.7 vs 100
    assert rep["verdict"] == "SIGNIFICANT"


def test_backtest_report_and_html_page(tmp_path):
    cfg = write_config(tmp_path, None, symbols=["ETH"])
    from perpbot.backtest import runs
    summary = {"run_id": "r1", "created": 5, "symbols": ["ETH"], "tf": "1h", "start": 0,
               "end": 10 * H, "params": {}, "metrics": {"trades": 1, "total_pnl": 5.0},
               "rejected": {}, "cancelled_entries": 0, "accounts": "shared",
               "funding_hours": {"hours": 10, "missing": 0, "missing_in_position": 0},
               "gaps": {"count": 0}, "gapped_stops": {"count": 0, "extra_loss": 0.0}, "warmup": {},
               "regime": "no regime snapshots: the run is NORMAL throughout",
               "trips": [{**trip(0, "long", 5.0), "exit_reason": "take_profit"}],
               "equity_t": [0, H, 2 * H], "equity": [100.0, 90.0, 105.0]}
    with Store.open(tmp_path / "perpbot.db") as st:
        runs.save(st, summary)
    page = tmp_path / "r.html"
    r = run("report", "backtest", "r1", "--json", "--html", page, "--config", cfg)
    assert r.returncode == 0, r.stderr
    rep = orjson.loads(r.stdout)
    assert rep["run_id"] == "r1" and rep["exit_reasons"] == {"take_profit": 1}
    assert rep["metrics"]["total_pnl"] == 5.0
    doc = page.read_text()
    # one page, plotly's script inline (test_html_report.py opens it in a browser)
    assert doc.startswith("<!doctype html>") and "<script src=" not in doc
    assert 'id="report"' in doc and "take_profit: +5.00" in doc
    assert run("report", "backtest", "nope", "--config", cfg).returncode == 2


def test_compare_cli_paper_trades_that_match_the_backtest_are_consistent(tmp_path):
    from conftest import market_rows, market_store
    from perpbot.backtest import runs
    from perpbot.config import load
    rows = market_rows("EURUSD-1h", "EURUSD", "1h")
    cfg = market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h", rows=rows)
    start, end = rows[500][2], rows[3000][2]
    with Store.open(tmp_path / "perpbot.db") as st:
        bt = runs.run(st, load(cfg), ["EURUSD"], "1h", start, end)
        trips = [x for x in bt["trips"] if x["exit_t"] < end]
        for k, x in enumerate(trips):     # paper traded exactly what the backtest did
            st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, "
                            "fee, mode, action, reason, funding, pnl) VALUES (?, ?, 'EURUSD', ?, ?,"
                            " ?, ?, 0, 'paper', 'open', 'x', 0, NULL)",
                            (f"o{k}", f"0xo{k}", x["entry_t"], x["side"], x["size"],
                             x["entry_price"]))
            st.conn.execute("INSERT INTO trades (trade_id, cloid, symbol, t, side, size, price, "
                            "fee, mode, action, reason, funding, pnl) VALUES (?, ?, 'EURUSD', ?, ?,"
                            " ?, ?, ?, 'paper', 'close', ?, ?, ?)",
                            (f"c{k}", f"0xc{k}", x["exit_t"], x["side"], x["size"],
                             x["exit_price"], x["fees"], x["exit_reason"], x["funding"], x["pnl"]))
    assert len(trips) >= 5
    page = tmp_path / "cmp.html"
    r = run("report", "compare", "--from", start, "--to", end, "--json", "--config", cfg,
            "--html", page)
    assert r.returncode == 0, r.stderr
    doc = page.read_text()
    assert '"name":"matched (paper = backtest)"' in doc and '"name":"equity (paper)"' in doc
    rep = orjson.loads(r.stdout)
    assert (rep["matched"], rep["missed"], rep["extra"]) == (len(trips), 0, 0)
    assert rep["pnl_diff_pct"] == pytest.approx(0.0, abs=1e-9)
    assert rep["entry_slippage_bps_mean"] == pytest.approx(0.0, abs=1e-9)
    assert rep["verdict"] == "CONSISTENT"
