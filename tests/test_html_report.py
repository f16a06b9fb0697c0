"""The HTML report in a real headless browser (Debian's chromium driven by playwright): the
charts render with the right series, the drawdown downward from zero on a time axis, and no
console errors. Skips, saying why, where no browser or playwright is installed."""

import shutil
from pathlib import Path

import pytest

from conftest import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api",
                                 reason="playwright is not installed (a test extra)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs "
                                                         "Debian's chromium package)")


def open_report(path: Path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file:") else route.abort())                    # offline: nothing else is fetched
        page.goto(path.as_uri())
        page.wait_for_selector("#report .main-svg")
        data = page.evaluate("document.getElementById('report').data.map(d => "
                             "({name: d.name, n: (d.y || []).length, y: d.y}))")
        layout = page.evaluate("(() => { const l = document.getElementById('report').layout;"
                               " return {x: l.xaxis4.type, dd: l.yaxis3.range}; })()")
        svg = page.evaluate("document.querySelectorAll('#report .main-svg').length")
        browser.close()
    return {d["name"]: d for d in data}, layout, svg, errors


def test_the_weekly_and_compare_reports_render_offline(tmp_path):
    from test_readable import make_store         # a store with a random walk of candles
    cfg = make_store(tmp_path)
    r = run("backtest", "--config", cfg, "--symbol", "ETH")
    assert r.returncode == 0, r.stderr
    html = tmp_path / "bt.html"
    r = run("report", "backtest", "--config", cfg, "--html", html)
    assert r.returncode == 0, r.stderr
    text = html.read_text()
    assert "<script src=" not in text and "<script" in text         # plotly inline
    series, layout, svg, errors = open_report(html)
    assert errors == [] and svg >= 1
    assert {"price ETH", "entries (trades)", "exits (trades)", "equity", "drawdown",
            "PnL per trade"} <= set(series)
    assert series["price ETH"]["n"] > 100 and series["entries (trades)"]["n"] >= 1
    assert max(series["drawdown"]["y"]) <= 0 and min(series["drawdown"]["y"]) < 0
    assert layout["x"] == "date" and layout["dd"][1] == 0
    # a comparison: the paper ledger's equity over the backtest's
    r = run("report", "compare", "--config", cfg, "--from", "1790000000000", "--to",
            "1790180000000", "--html", tmp_path / "cmp.html")
    assert r.returncode == 0, r.stderr
    series, layout, svg, errors = open_report(tmp_path / "cmp.html")
    assert errors == []
    assert {"equity (backtest)", "equity (paper)", "entries (backtest)"} <= set(series)
