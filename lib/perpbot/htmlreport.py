"""The report as one self-contained HTML page (plotly, its JavaScript inline: no network to
open it). One time axis for four panes: the price with entries and exits marked and the regime
as coloured bands, the equity (with, for a comparison, the other ledger's over it), the drawdown
drawn downward from zero, and each trade's PnL at its exit; the figures as text below.
"""

from __future__ import annotations

import datetime as dt
import html

from .regime import RegimeBook
from .timeutil import HOUR_MS, interval_ms

MAX_POINTS = 4000
REGIME_COLOURS = {"DOVISH": "rgba(46,160,67,0.12)", "HAWKISH": "rgba(191,135,0,0.14)",
                  "HIGH_RISK": "rgba(219,109,40,0.16)", "CRISIS": "rgba(207,34,46,0.20)"}


def _when(ms) -> list[str]:
    return [dt.datetime.fromtimestamp(t / 1000, tz=dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S") for t in ms]


def gather(store, cfg, start: int, end: int, symbols) -> dict:
    """What the page needs from the store besides the report: each symbol's closes over the
    window (at most MAX_POINTS a symbol) and the regime's runs, hour by hour."""
    tf = cfg.strategy.timeframe
    prices = {}
    for sym in symbols:
        rows = store.candles(sym, tf, start - interval_ms(tf), end)
        step = max(1, len(rows) // MAX_POINTS)
        rows = rows[::step]
        prices[sym] = ([r.t_close + 1 for r in rows], [r.c for r in rows])
    book = RegimeBook(store.regimes(), cfg.regime)
    bands, run = [], None
    for h in range(start - start % HOUR_MS, end, HOUR_MS):
        level = book.at(h)[0]
        if run and run[2] == level:
            run[1] = h + HOUR_MS
        else:
            run = [h, h + HOUR_MS, level]
            bands.append(run)
    return {"prices": prices, "regimes": [tuple(b) for b in bands if b[2] != "NORMAL"]}


def drawdown_pct(equity) -> list[float]:
    """The fall from the running peak, in percent, never above zero."""
    out, peak = [], float("-inf")
    for v in equity:
        peak = max(peak, v)
        out.append(-(peak - v) / peak * 100 if peak > 0 else 0.0)
    return out


def page(rep: dict, text: str, trips: list[dict], context: dict,
         overlay: dict | None = None) -> str:
    """The HTML page. `trips` are the round trips marked on the price; `overlay` (a comparison)
    is {"label", "equity_t", "equity", "trips"} drawn over the report's own equity."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.38, 0.24, 0.16, 0.22],
                        subplot_titles=("Price, entries and exits", "Equity (USDC)",
                                        "Drawdown (%)", "PnL per trade (USDC)"))
    for sym, (t, c) in context.get("prices", {}).items():
        fig.add_trace(go.Scatter(x=_when(t), y=c, name=f"price {sym}", mode="lines",
                                 line={"width": 1.2, "color": "#57606a"}), row=1, col=1)
    own = rep.get("kind") == "compare" and "backtest" or "trades"
    for label, group, colour in ((own, trips, "#1f6feb"),
                                 *(((overlay["label"], overlay.get("trips") or [], "#bf8700"),)
                                   if overlay else ())):
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=_when([x["entry_t"] for x in group]), y=[x.get("entry_price") for x in group],
            mode="markers", name=f"entries ({label})",
            marker={"symbol": ["triangle-up" if x["side"] == "long" else "triangle-down"
                               for x in group], "size": 10, "color": colour},
            text=[f"{x['side']} {x['symbol']} {x.get('entry_reason') or ''}" for x in group]),
            row=1, col=1)
        fig.add_trace(go.Scatter(
            x=_when([x["exit_t"] for x in group]), y=[x.get("exit_price") for x in group],
            mode="markers", name=f"exits ({label})",
            marker={"symbol": "x", "size": 9, "color": colour},
            text=[f"{x.get('exit_reason', '')}: {x['pnl']:+.2f}" for x in group]), row=1, col=1)
    if overlay and rep.get("pairs"):
        # the ledger's entries the backtest also made (matched one to one), ringed
        by_t = {(x["symbol"], x["entry_t"]): x for x in overlay.get("trips") or []}
        hit = [by_t[(p["symbol"], p["live_entry_t"])] for p in rep["pairs"]
               if (p["symbol"], p["live_entry_t"]) in by_t]
        fig.add_trace(go.Scatter(
            x=_when([x["entry_t"] for x in hit]), y=[x.get("entry_price") for x in hit],
            mode="markers", name=f"matched ({overlay['label']} = backtest)",
            marker={"symbol": "circle-open", "size": 16, "color": "#2da44e",
                    "line": {"width": 2}}), row=1, col=1)
    for a, b, level in context.get("regimes", []):
        fig.add_vrect(x0=_when([a])[0], x1=_when([b])[0], fillcolor=REGIME_COLOURS[level],
                      line_width=0, layer="below", row=1, col=1,
                      annotation_text=level, annotation_position="top left",
                      annotation_font_size=10)
    t, eq = rep.get("equity_t") or [], rep.get("equity") or []
    name = "equity (backtest)" if rep.get("kind") == "compare" else "equity"
    fig.add_trace(go.Scatter(x=_when(t), y=eq, name=name, mode="lines",
                             line={"color": "#1f6feb", "shape": "hv"}), row=2, col=1)
    if overlay:
        fig.add_trace(go.Scatter(x=_when(overlay["equity_t"]), y=overlay["equity"],
                                 name=f"equity ({overlay['label']})", mode="lines",
                                 line={"color": "#bf8700", "shape": "hv"}), row=2, col=1)
    fig.add_trace(go.Scatter(x=_when(t), y=drawdown_pct(eq), name="drawdown", mode="lines",
                             fill="tozeroy", line={"color": "#cf222e", "shape": "hv"}),
                  row=3, col=1)
    fig.update_yaxes(range=[min(drawdown_pct(eq) or [0]) * 1.1 - 0.01, 0], row=3, col=1)
    for label, group in ((own, trips), *(((overlay["label"], overlay.get("trips") or []),)
                                         if overlay else ())):
        fig.add_trace(go.Bar(x=_when([x["exit_t"] for x in group]), y=[x["pnl"] for x in group],
                             name="PnL per trade" + (f" ({label})" if overlay else ""),
                             marker={"color": ["#2da44e" if x["pnl"] > 0 else "#cf222e"
                                               for x in group],
                                     "line": {"color": "#1f6feb" if label == own else "#bf8700",
                                              "width": 1}}), row=4, col=1)
    fig.update_xaxes(type="date")
    fig.update_layout(height=1000, margin={"l": 60, "r": 20, "t": 60, "b": 40},
                      legend={"orientation": "h", "y": 1.06}, hovermode="x unified",
                      template="plotly_white")
    chart = fig.to_html(full_html=False, include_plotlyjs=True, div_id="report",
                        config={"displaylogo": False, "responsive": True})
    return ("<!doctype html><html><head><meta charset='utf-8'><title>perpbot report</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px}"
            "pre{background:#f6f8fa;padding:1em;overflow:auto}</style></head>"
            f"<body><h1>perpbot: {html.escape(str(rep.get('kind')))}</h1>{chart}"
            f"<h2>Figures</h2><pre>{html.escape(text)}</pre></body></html>\n")
