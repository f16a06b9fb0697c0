"""Reports: a stored backtest run, the weekly review of paper or live trading, and paper or live
trades against a backtest of the same period. Each is a dict (for --json) that renders as text
for the terminal, or as one self-contained HTML page (htmlreport.py).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from . import metrics, risk
from .errors import UsageError
from .regime import RegimeBook
from .timeutil import DAY_MS, HOUR_MS, iso

LEVELS = ("NORMAL", "DOVISH", "HAWKISH", "HIGH_RISK", "CRISIS")


# the ledger as round trips -----------------------------------------------------------------------

def round_trips(rows) -> list[dict]:
    """Trades rows (t, symbol, action, side, size, price, fee, funding, pnl, reason, slippage),
    in time order, paired open -> close per symbol."""
    open_: dict[str, tuple] = {}
    trips = []
    for t, sym, action, side, size, price, fee, funding, pnl, reason, slip in rows:
        if action == "open":
            open_[sym] = (t, side, size, price, fee, reason, slip or 0.0)
        elif sym in open_:
            et, eside, esize, eprice, efee, ereason, eslip = open_.pop(sym)
            trips.append({"symbol": sym, "side": eside, "size": esize, "entry_t": et,
                          "entry_price": eprice, "exit_t": t, "exit_price": price,
                          "exit_reason": reason, "entry_reason": ereason, "fees": efee + fee,
                          "funding": funding or 0.0,
                          "slippage": (eslip * eprice + (slip or 0.0) * price) * esize,
                          "pnl": pnl})
    return trips


def ledger(store, start: int, end: int, modes=("paper", "live")) -> list[dict]:
    rows = store.trades(modes)
    return [x for x in round_trips(rows) if start <= x["exit_t"] < end]


def equity_of(trips: list[dict], capital: float, start: int, end: int):
    """Realized equity at the start and after every closed trip (the curve a ledger gives)."""
    t = [start] + [x["exit_t"] for x in trips]
    eq = np.cumsum([capital] + [x["pnl"] for x in trips])
    if t[-1] < end:
        t.append(end)
        eq = np.r_[eq, eq[-1]]
    return np.array(t, dtype=np.int64), eq


# backtest --------------------------------------------------------------------------------------

def backtest(store, run_id: str | None) -> dict:
    row = store.backtest_run(run_id)
    if row is None:
        raise UsageError(f"no backtest run {run_id}" if run_id else "no backtest runs stored")
    rid, created, p, m, trips, eq = row
    return {"kind": "backtest", "run_id": rid, "created": created, **p, **m,
            "exit_reasons": _count(x["exit_reason"] for x in trips),
            "equity_t": eq["t"], "equity": eq["equity"]}


# weekly ----------------------------------------------------------------------------------------

def week_bounds(week: str | None, now: int) -> tuple[str, int, int]:
    if week is None:
        d = dt.datetime.fromtimestamp(now / 1000, tz=dt.timezone.utc).date() - dt.timedelta(days=7)
        y, w, _ = d.isocalendar()
        week = f"{y}-W{w:02d}"
    try:
        monday = dt.datetime.strptime(week + "-1", "%G-W%V-%u").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise UsageError(f'--week "{week}": expected YYYY-Www, e.g. 2026-W47') from None
    start = int(monday.timestamp() * 1000)
    return week, start, start + 7 * DAY_MS


def weekly(store, cfg, week: str | None, now: int, mode: str = "paper") -> dict:
    """The week's review of one ledger (paper or live); replays and backtests never count."""
    label, start, end = week_bounds(week, now)
    trips = ledger(store, start, end, (mode,))
    capital_then = cfg.risk.capital + sum(p for t, p in store.closed_pnl(mode) if t < start)
    t, eq = equity_of(trips, capital_then, start, end)
    pnl = np.array([x["pnl"] for x in trips])
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    book = RegimeBook(store.regimes(), cfg.regime)
    hours = range(start, end, HOUR_MS)
    regime_time = _count(book.at(h)[0] for h in hours)
    refused = store.rejection_counts(mode, start, end)
    dd = metrics.drawdown(t, eq)
    return {
        "kind": "weekly", "mode": mode, "week": label, "from": start, "to": end, "trades": len(trips),
        "win_rate": len(wins) / len(pnl) if len(pnl) else None,
        "pnl": float(pnl.sum()) if len(pnl) else 0.0,
        "avg_win": float(wins.mean()) if len(wins) else None,
        "avg_loss": float(losses.mean()) if len(losses) else None,
        # per-trade Sharpe: mean over sample standard deviation of the trades' PnL, unannualised
        "per_trade_sharpe": float(pnl.mean() / pnl.std(ddof=1)) if len(pnl) > 1 and pnl.std(ddof=1)
        else None,
        **dd, "exit_reasons": _count(x["exit_reason"] for x in trips),
        "fees": float(sum(x["fees"] for x in trips)),
        "funding": float(sum(x["funding"] for x in trips)),
        "regime_hours": regime_time, "refused_entries": refused,
        "losing_weeks": risk.losing_weeks(store.closed_pnl(mode), end,
                                          cfg.risk.losing_weeks_halt),
        "equity_t": t.tolist(), "equity": eq.tolist(),
    }


# compare ---------------------------------------------------------------------------------------

def match(live: list[dict], bt: list[dict], tolerance_ms: int) -> tuple[list, list, list]:
    """Pairs (live, backtest) of the same symbol and side entered within the tolerance, each
    trip used once, nearest first; then the backtest's unmatched (missed) and live's (extra)."""
    pairs, used = [], set()
    for x in live:
        best, gap = None, None
        for k, y in enumerate(bt):
            if k in used or y["symbol"] != x["symbol"] or y["side"] != x["side"]:
                continue
            d = abs(y["entry_t"] - x["entry_t"])
            if d <= tolerance_ms and (gap is None or d < gap):
                best, gap = k, d
        if best is not None:
            used.add(best)
            pairs.append((x, bt[best]))
    matched_live = {id(x) for x, _ in pairs}
    missed = [y for k, y in enumerate(bt) if k not in used]
    extra = [x for x in live if id(x) not in matched_live]
    return pairs, missed, extra


def verdict(pnl_diff_pct: float | None, win_rate_diff_pts: float | None) -> str:
    """SIGNIFICANT when PnL differs by more than 50% or the win rate by more than 20 points,
    MODERATE above 25% or 10 points, else CONSISTENT."""
    p = abs(pnl_diff_pct or 0.0)
    w = abs(win_rate_diff_pts or 0.0)
    if p > 50 or w > 20:
        return "SIGNIFICANT"
    if p > 25 or w > 10:
        return "MODERATE"
    return "CONSISTENT"


def compare(live: list[dict], bt: list[dict], tf_ms: int, start: int, end: int) -> dict:
    pairs, missed, extra = match(live, bt, 2 * tf_ms)

    def stats(trips):
        pnl = [x["pnl"] for x in trips]
        return (sum(pnl), sum(1 for p in pnl if p > 0) / len(pnl) * 100 if pnl else None)
    live_pnl, live_wr = stats(live)
    bt_pnl, bt_wr = stats(bt)
    pnl_diff = (live_pnl - bt_pnl) / abs(bt_pnl) * 100 if bt_pnl else (
        0.0 if not live_pnl else math.copysign(math.inf, live_pnl))
    wr_diff = live_wr - bt_wr if live_wr is not None and bt_wr is not None else None
    slip = [((x["entry_price"] - y["entry_price"]) / y["entry_price"] * 1e4 *
             (1 if x["side"] == "long" else -1)) for x, y in pairs]
    return {
        "kind": "compare", "from": start, "to": end, "live_trades": len(live),
        "backtest_trades": len(bt), "matched": len(pairs), "missed": len(missed),
        "extra": len(extra), "live_pnl": live_pnl, "backtest_pnl": bt_pnl,
        "pnl_diff_pct": pnl_diff, "live_win_rate": live_wr, "backtest_win_rate": bt_wr,
        "win_rate_diff_pts": wr_diff,
        # entry slippage: how much worse (positive) live entries were than the backtest's, bps
        "entry_slippage_bps_mean": float(np.mean(slip)) if slip else None,
        "pairs": [{"symbol": x["symbol"], "side": x["side"], "live_entry_t": x["entry_t"],
                   "backtest_entry_t": y["entry_t"], "live_pnl": x["pnl"], "backtest_pnl": y["pnl"]}
                  for x, y in pairs],
        "missed_trades": [_brief(y) for y in missed], "extra_trades": [_brief(x) for x in extra],
        "verdict": verdict(pnl_diff if math.isfinite(pnl_diff) else 1e9, wr_diff),
    }


def _brief(x):
    return {k: x[k] for k in ("symbol", "side", "entry_t", "exit_t", "pnl")}


def _count(items) -> dict:
    out: dict = {}
    for k in items:
        out[k] = out.get(k, 0) + 1
    return out


# rendering -------------------------------------------------------------------------------------

SKIP = {"equity_t", "equity", "pairs", "missed_trades", "extra_trades", "params"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 100 else f"{v:,.2f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) or "-"
    if v is None:
        return "-"
    return str(v)


def text(rep: dict) -> str:
    title = {"backtest": f"backtest {rep.get('run_id')}", "weekly": f"week {rep.get('week')}",
             "compare": "paper/live vs backtest"}[rep["kind"]]
    lines = [title, "=" * len(title)]
    for k, v in rep.items():
        if k in SKIP or k == "kind":
            continue
        if k in ("from", "to", "start", "end", "created") and isinstance(v, int):
            v = iso(v)
        if k == "metrics" and isinstance(v, dict):
            for mk, mv in v.items():
                lines.append(f"  {mk:<22} {_fmt(mv)}")
            continue
        lines.append(f"{k:<24} {_fmt(v)}")
    return "\n".join(lines) + "\n"
