"""Output for people: rich tables on a terminal, the same data as JSON in a pipe (or with
--json). One place decides which, and draws the tables the tools share."""

from __future__ import annotations

import sys

from .monitor import fmt


def for_people(as_json: bool = False, stream=None) -> bool:
    """Tables when stdout is a terminal and --json was not asked for."""
    return not as_json and (stream or sys.stdout).isatty()


def console(stream=None):
    from rich.console import Console
    return Console(file=stream or sys.stdout, highlight=False)


def kv_table(title: str, rows: list[tuple[str, object]]):
    from rich.table import Table
    t = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, "-" if v is None else str(v))
    return t


def table(title: str, columns: list[str], rows: list[list]):
    from rich.table import Table
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("-" if v is None else str(v) for v in r))
    return t


def status_view(st: dict):
    """The loop's state (get_state) as a group of tables."""
    from rich.console import Group

    risk = st.get("risk") or {}
    live = st.get("live") or {}
    flags = " ".join(w for w, on in (("PAUSED", risk.get("paused")),
                                     ("HALTED", risk.get("halted"))) if on)
    feed = st.get("feed") or {}
    sl = risk.get("slippage") or {}
    head = kv_table(f"perpbot {st.get('mode', '?').upper()} {flags}".rstrip(), [
        ("clock", st.get("clock_iso")),
        ("uptime", fmt.uptime(st.get("uptime_s"))),
        ("account", f"{live.get('network')} {live.get('account')}" if live else None),
        ("equity", fmt.money(st.get("equity"))),
        ("realized today", f"{fmt.money(risk.get('realized_today'), sign=True)} of "
                           f"-{fmt.money(risk.get('daily_loss_cap'))} cap"),
        ("regime", (st.get("regime") or {}).get("level")),
        ("exchange", st.get("exchange")),
        ("feed", ("connected" if feed.get("connected") else "down") +
                 (f", last price {feed['age_s']:.0f} s ago" if feed.get("age_s") is not None
                  else "")),
        ("slippage", f"{sl['count']} fills, mean {sl['mean_bps']:.1f} bps, max "
                     f"{sl['max_bps']:.1f} bps" if sl.get("count") else "no fills yet"),
        ("cooldown until", fmt.stamp(risk.get("cooldown_until"))
         if risk.get("cooldown_until") else "none"),
    ])
    pos = table("positions", ["side", "symbol", "size", "entry", "mid", "uPnL"], [
        [p["side"], p["symbol"], f"{p['size']:g}", fmt.price(p["entry"]), fmt.price(p.get("mid")),
         fmt.money(p.get("unrealized"), sign=True)] for p in st.get("positions") or []])
    sig = table("last signals", ["symbol", "action", "reason"], [
        [s.get("symbol"), s.get("action"), _short(s.get("reason"), 60)]
        for s in st.get("last_signals") or []])
    fills = table("last fills", ["time", "symbol", "action", "side", "size", "price", "reason"], [
        [fmt.clock(f.get("t")), f.get("symbol"), f.get("action"), f.get("side"), f.get("size"),
         fmt.price(f.get("price")), _short(f.get("reason"))] for f in st.get("last_fills") or []])
    parts = [head, pos, sig, fills]
    errs = st.get("errors") or []
    if errs:
        parts.append(table("recent errors", ["time", "message"],
                           [[fmt.clock(e.get("t")), e.get("msg")] for e in errs[-5:]]))
    return Group(*parts)


def summary_view(title: str, summary: dict, skip=("trips", "equity_t", "equity", "params")):
    """A summary (a backtest's) as a key-value table: times as UTC, one row a metric, other
    nested values as short JSON; `params` and the curves stay in --json."""
    import orjson

    from .timeutil import iso

    rows: list = []

    def cell(k, v):
        if k in ("start", "end", "created") and isinstance(v, int):
            return iso(v)
        if k in PERCENT:
            return _num(v, k)
        if k == "symbols" and isinstance(v, list):
            return ", ".join(map(str, v))
        if isinstance(v, float):
            return f"{v:,.4f}"
        if isinstance(v, (dict, list)):
            text = orjson.dumps(v).decode()
            return text if len(text) <= 100 else text[:99] + "…"
        return v

    for k, v in summary.items():
        if k in skip:
            continue
        if k == "metrics" and isinstance(v, dict):
            rows += [(f"  {mk}", cell(mk, mv)) for mk, mv in v.items()]
            continue
        rows.append((k, cell(k, v)))
    return kv_table(title, rows)


def _short(text, n: int = 28) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[:n - 1] + "…"


class progress:
    """A progress bar on stderr when it is a terminal (fold k of n, elapsed, ETA), nothing
    otherwise; called as progress(done, total)."""

    def __init__(self, label: str):
        self.label, self.bar, self.task = label, None, None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"),
                                TimeRemainingColumn(), console=console(sys.stderr),
                                transient=False)
            self.bar.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


class Quiet:
    """A records writer that writes nothing (a terminal gets a table at the end instead)."""

    def write(self, rec) -> None:
        pass

    def write_raw(self, raw) -> None:
        pass

    def flush(self) -> None:
        pass


METRICS = ("trades", "total_pnl", "sharpe", "max_drawdown", "win_rate", "profit_factor")
# fractions in the records and JSON, shown to people as percent
PERCENT = frozenset({"win_rate", "return", "max_drawdown", "cagr", "exposure"})


def _num(v, name: str = "") -> str:
    if v is None:
        return "-"
    if name in PERCENT and isinstance(v, (int, float)):
        return f"{v * 100:,.2f}%"
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 100 else f"{v:,.2f}"
    return str(v)


def rows_view(title: str, rows: list[dict], params: list[str], verdicts: dict | None = None):
    """A sweep's rows, best total PnL first, with the verdicts under them."""
    from rich.console import Group

    ok = sorted((r for r in rows if "error" not in r),
                key=lambda r: r.get("total_pnl") or 0.0, reverse=True)
    t = table(f"{title}: {len(rows)} combinations, best total PnL first", [*params, *METRICS],
              [[str(r.get(p)) for p in params] + [_num(r.get(m), m) for m in METRICS]
               for r in ok[:40]])
    parts = [t]
    if verdicts:
        parts.append(kv_table("robustness (share of values profitable)",
                              [(k, f"{v['verdict']} ({v['reason'] + '; ' if v.get('reason') else ''}"
                                   f"{v['profitable']} of {v['values']} profitable)")
                               for k, v in verdicts.items()]))
    return Group(*parts)


def walkforward_view(result: dict):
    """Walk-forward folds, in and out of sample, and the stitched out-of-sample result."""
    from rich.console import Group

    from .timeutil import iso

    folds = table(f"walk-forward ({result['mode']}): folds", [
        "fold", "train from", "test from", "test to", "params", "IS sharpe", "OOS sharpe",
        "OOS pnl", "overfit"], [
        [f["fold"], iso(f["train"][0])[:10], iso(f["test"][0])[:10], iso(f["test"][1])[:10],
         ", ".join(f"{k}={v}" for k, v in f["params"].items()) or "config",
         _num(f["in_sample"].get("sharpe")), _num(f["out_of_sample"].get("sharpe")),
         _num(f["out_of_sample"].get("total_pnl")), _num(f["overfit"])]
        for f in result["folds"]])
    oos = result["out_of_sample"]
    summary = kv_table("out of sample, stitched", [
        *[(m, _num(oos.get(m), m)) for m in METRICS],
        ("mean sharpe in / out", f"{_num(result['in_sample_mean_sharpe'])} / "
                                 f"{_num(result['out_of_sample_mean_sharpe'])}"),
        ("mean overfit", _num(result["mean_overfit"]))])
    return Group(folds, summary)
