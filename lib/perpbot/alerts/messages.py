"""The alerts' texts: plain lines, the event's word first, what a person needs and no more."""

from __future__ import annotations

from ..execution.costs import STOP_EXITS
from ..timeutil import iso


def started(mode: str, symbols, network: str | None = None, account: str | None = None) -> str:
    where = f" on {network}" + (f" ({account[:6]}…{account[-4:]})" if account else "") \
        if network else ""
    return f"STARTED perpbot {mode}{where}: {', '.join(symbols)}"


def fill(f: dict, regime: str | None = None) -> tuple[str, str]:
    """(event, text) of a fill: OPEN, or CLOSE (with STOP for a stop-loss exit)."""
    if f.get("action") == "close":
        stop = " STOP" if f.get("reason") in STOP_EXITS else ""
        pnl = f.get("pnl")
        return "CLOSE", (f"CLOSE{stop} {f['side']} {f['symbol']} {f['size']} @ {f['price']} "
                         f"({f.get('reason', '')})"
                         + (f" PnL {pnl:+.2f}" if pnl is not None else "")
                         + f" [{f.get('mode', '')}]")
    return "OPEN", (f"OPEN {f['side']} {f['symbol']} {f['size']} @ {f['price']}"
                    + (f" regime {regime}" if regime else "") + f" [{f.get('mode', '')}]")


def heartbeat(mode: str, regime: str, positions: list, equity: float | None, feed: str,
              slippage: dict | None) -> str:
    held = ", ".join(f"{p['side']} {p['symbol']}" for p in positions) or "flat"
    sl = slippage or {}
    slip = f"slippage {sl['mean_bps']:.1f}/{sl['max_bps']:.1f} bps mean/max over " \
           f"{sl['count']}" if sl.get("count") else "no fills yet"
    eq = f"equity {equity:,.2f}" if equity is not None else "equity -"
    return f"HEARTBEAT {mode} regime {regime}; {held}; {eq}; feed {feed}; {slip}"


def stale(age_s: float | None, limit_s: float) -> str:
    age = "no price yet" if age_s is None else f"no price for {age_s:.0f} s"
    return f"STALE price feed: {age} (limit {limit_s:g} s)"


def fresh(after_s: float) -> str:
    return f"STALE over: prices flow again after {after_s:.0f} s"


def halt(weeks: int, forced: bool, open_positions: int) -> str:
    if forced:
        return f"HALT overridden by --force: the last {weeks} 7-day windows all lost money"
    return f"HALT new entries: the last {weeks} 7-day windows all lost money" + \
        (f"; {open_positions} position(s) still open" if open_positions else "")


def failed(stage: str, line: str) -> str:
    return f"FAILED {stage}: {line}"[:400]


def reconcile(done: dict) -> str:
    parts = []
    if done.get("adopted"):
        parts.append("adopted " + ", ".join(done["adopted"]))
    if done.get("closed"):
        parts.append("closed " + ", ".join(f"{r['symbol']} ({r['reason']}, PnL {r['pnl']:+.2f})"
                                           for r in done["closed"]))
    if done.get("resized"):
        parts.append("resized " + ", ".join(done["resized"]))
    if done.get("stops"):
        parts.append("stop re-placed " + ", ".join(done["stops"]))
    if done.get("cancelled"):
        parts.append(f"cancelled {len(done['cancelled'])} orphan order(s)")
    return "RECONCILE the ledger follows the exchange: " + "; ".join(parts)


def unhedged(symbol: str, what: str) -> str:
    return f"UNHEDGED {symbol}: {what}"


def daily(day_ms: int, mode: str, closes: int, pnl: float, equity: float | None) -> str:
    eq = f"; equity {equity:,.2f}" if equity is not None else ""
    return f"DAILY {iso(day_ms)[:10]} {mode}: {closes} closed trade(s), realized PnL " \
           f"{pnl:+.2f}{eq}"
