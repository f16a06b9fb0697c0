"""The monitor's screen (urwid): a header with the mode, the states that matter and the equity;
six titled panes (POSITIONS, SIGNALS, RISK, TRADES, EQUITY, LOG); a footer with the keys.

Everything is drawn from a `source.Model`, so the same screen renders live, headless for the
golden frames, and as one plain-text frame for `monitor --snapshot`. Keys: p pause, r resume,
e emergency close (a dialog lists the positions; only y sends it, Esc cancels), ? help, q quit.
"""

from __future__ import annotations

import time

import urwid

from .. import risk
from ..execution.account import exchange_stop_price
from . import fmt

PALETTE = [
    ("text", "default", "default"), ("dim", "dark gray", "default"),
    ("good", "light green", "default"), ("bad", "light red", "default"),
    ("warn", "yellow", "default"), ("note", "light cyan", "default"),
    ("hot", "light red,bold", "default"), ("warm", "yellow", "default"),
    ("cold", "dark green", "default"), ("title", "white,bold", "default"),
    ("head", "white", "dark blue"), ("brand", "white,bold", "dark blue"),
    ("paper", "black", "yellow"), ("live", "white,bold", "dark red"),
    ("offline", "white,bold", "dark red"), ("paused", "black", "yellow"),
    ("halted", "white,bold", "dark magenta"), ("foot", "black", "light gray"),
    ("dialog", "black", "light gray"), ("dialog_bad", "dark red,bold", "light gray"),
]
TITLES = ("POSITIONS", "SIGNALS", "RISK", "TRADES", "EQUITY", "LOG")
KEYS = "p pause  r resume  e emergency close  ? help  q quit"
HELP = """Keys

  p    pause: no new entries (exits go on)
  r    resume entries
  e    emergency close: lists the open positions;
       y closes them all at the market and pauses,
       Esc (or any other key) cancels
  ?    this help (any key closes it)
  q    quit the monitor (the loop runs on)

Nothing is sent to the loop without its key, and
an emergency close only after y in its dialog."""


class Chart(urwid.Widget):
    """The equity curve in block characters, as wide and tall as its box."""

    _sizing = frozenset([urwid.Sizing.BOX])
    _selectable = False

    def __init__(self):
        super().__init__()
        self.values: list[float] = []

    def set(self, values: list[float]) -> None:
        if values != self.values:
            self.values = list(values)
            self._invalidate()

    def render(self, size, focus=False):
        cols, rows = size
        if len(self.values) < 2:        # the capital alone
            lines = ["no closed trades yet".ljust(cols)[:cols]] + [" " * cols] * (rows - 1)
            return urwid.TextCanvas([ln.encode() for ln in lines[:rows]], maxcol=cols)
        label = f"{fmt.money(self.values[-1])} " \
                f"(low {fmt.money(min(self.values))}, high {fmt.money(max(self.values))})"
        chart = fmt.spark(self.values, cols, max(1, rows - 1)) if rows > 1 else []
        lines = [label[:cols].ljust(cols)] + chart
        return urwid.TextCanvas([ln.encode() for ln in lines[:rows]], maxcol=cols)


def _num(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _pane(title: str, body: urwid.Widget) -> urwid.LineBox:
    return urwid.LineBox(body, title=title, title_align="left", title_attr="title")


def _lines(markups: list) -> list[urwid.Text]:
    return [urwid.Text(m, wrap="clip") for m in markups] or [urwid.Text("")]


class Screen:
    def __init__(self, cfg, source=None):
        self.cfg, self.source = cfg, source
        self.header = urwid.Text("", wrap="space")        # two lines on a narrow terminal
        self.footer = urwid.Text("", wrap="clip")
        self.walkers = {t: urwid.SimpleFocusListWalker([urwid.Text("")]) for t in TITLES
                        if t != "EQUITY"}
        self.chart = Chart()
        boxes = {t: _pane(t, urwid.ListBox(w)) for t, w in self.walkers.items()}
        boxes["EQUITY"] = _pane("EQUITY", self.chart)
        self.boxes = boxes
        top = urwid.Columns([("weight", 3, boxes["POSITIONS"]), ("weight", 2, boxes["RISK"])])
        mid = urwid.Columns([("weight", 3, boxes["SIGNALS"]), ("weight", 2, boxes["TRADES"])])
        self.body = urwid.Pile([("weight", 3, top), ("weight", 3, mid),
                                ("weight", 2, boxes["EQUITY"]), ("weight", 4, boxes["LOG"])])
        self.frame = urwid.Frame(self.body, header=urwid.AttrMap(self.header, "head"),
                                 footer=urwid.AttrMap(self.footer, "foot"))
        self.top: urwid.Widget = self.frame
        self.dialog: str | None = None          # "close" or "help" while one is open
        self.model = None
        self.started = time.time()

    # drawing --------------------------------------------------------------------------------

    def update(self, m) -> None:
        self.model = m
        st = m.state or {}
        self.header.set_text(self._header(m, st))
        self._set("POSITIONS", self._positions(m, st))
        self._set("SIGNALS", self._signals(m, st))
        self._set("RISK", self._risk(m, st))
        self._set("TRADES", self._trades(m))
        self._set("LOG", [[(lv if lv in fmt.LEVEL_COLOUR.values() else
                            fmt.LEVEL_COLOUR.get(lv, "text"), text)] for lv, text in m.log[-60:]])
        self.walkers["LOG"].set_focus(len(self.walkers["LOG"]) - 1)
        self.chart.set(m.equity)
        msg = m.message if m.message and time.time() < m.message_until else ""
        self.footer.set_text(KEYS + (f"   | {msg}" if msg else ""))

    def _set(self, title: str, markups: list) -> None:
        w = self.walkers[title]
        w[:] = _lines(markups)

    def _header(self, m, st) -> list:
        out: list = [("brand", " PERPBOT "), " "]
        out.append(("live" if m.mode == "live" else "paper", f" {m.mode.upper()} "))
        risk_ = st.get("risk") or {}
        paused = risk_.get("paused", m.ledger.get("paused"))
        halted = risk_.get("halted", m.ledger.get("halted"))
        if not m.online:
            out += [" ", ("offline", " OFFLINE ")]
        if paused:
            out += [" ", ("paused", " PAUSED ")]
        if halted:
            out += [" ", ("halted", " HALTED ")]
        live = st.get("live") or {}
        if live:
            acct = live.get("account") or ""
            out.append(f" {live.get('network', '?')} {acct[:6]}…{acct[-4:]}")
        equity = st.get("equity") if m.online else m.ledger.get("equity")
        if equity is not None:
            out.append(f"  equity {fmt.money(equity)}")
        today = risk_.get("realized_today", m.ledger.get("realized_today"))
        if today is not None:
            out += ["  today ", (fmt.pnl_colour(today), fmt.money(today, sign=True))]
        mids = ((st.get("feed") or {}).get("mids")) or {}
        prices = {p["symbol"]: p.get("mid") for p in st.get("positions") or []}
        for sym in self.cfg.symbols:
            px = mids.get(sym) or prices.get(sym) or \
                (m.indicators.get(sym) or {}).get("close")
            out.append(f"  {sym} {fmt.price(px)}")
        if m.online:
            feed = st.get("feed") or {}
            age = feed.get("age_s")
            ok = feed.get("connected") and age is not None and age < 10
            out += ["  feed ", ("good" if ok else "warn",
                                f"ok {age:.0f}s" if ok else "stale" if feed.get("connected")
                                else "down")]
            level = (st.get("regime") or {}).get("level", "?")
            out += ["  regime ", (fmt.REGIME_COLOUR.get(level, "text"), level)]
            out.append(f"  up {fmt.uptime(st.get('uptime_s'))}")
            ex = st.get("exchange")
            if st.get("exchange_unreachable_since"):
                out += ["  ", ("bad", f"exchange {ex}")]
        else:
            seen = f"last seen {fmt.uptime(time.time() - m.state_wall)} ago" if m.state_wall \
                else m.offline_reason
            out.append(f"  {seen}")
        return out

    def _positions(self, m, st) -> list:
        rows = (st.get("positions") if m.online else m.positions) or []
        if not rows:
            return [[("dim", "flat: no open positions")]]
        out = [[("dim", f"{'side':<5} {'symbol':<6} {'entry':>9} {'size':>8} {'uPnL $':>9} "
                        f"{'uPnL %':>7} {'held':>7} {'to stop':>7}")]]
        now = (st.get("clock") if m.online else None) or int(time.time() * 1000)
        pct = self.cfg.backtest.exchange_stop_pct
        for p in rows:
            u, mid, entry = p.get("unrealized"), p.get("mid"), p["entry"]
            upct = u / (entry * p["size"]) if u is not None and entry and p["size"] else None
            stop = exchange_stop_price(p["side"], entry, pct)
            dist = abs(mid - stop) / mid if mid else None
            out.append([("good" if p["side"] == "long" else "warn", f"{p['side']:<5} "),
                        f"{p['symbol']:<6} {fmt.price(entry):>9} {p['size']:>8g} ",
                        (fmt.pnl_colour(u), f"{fmt.money(u, sign=True):>9} {fmt.pct(upct):>7}"),
                        f" {fmt.held(now - p.get('entry_t', now)):>7} ",
                        ("hot" if dist is not None and dist < pct / 3 else "text",
                         f"{fmt.pct(dist, sign=False):>7}")])
        return out

    def _signals(self, m, st) -> list:
        s = self.cfg.signals
        last = {x.get("symbol"): x for x in st.get("last_signals") or []}
        out = []
        for sym in self.cfg.symbols:
            ind = m.indicators.get(sym) or {}
            sig = last.get(sym) or {}
            th = sig.get("thresholds") or {}
            entry_z = max(th.get("long_entry_z", s.entry_z), th.get("short_entry_z", s.entry_z))
            z, rsi, adx = ind.get("z"), ind.get("rsi"), ind.get("adx")
            action = sig.get("action", "-")
            out.append([("title", f"{sym:<6}"), " last signal ",
                        ("hot" if action in ("LONG", "SHORT") else "note" if action == "CLOSE"
                         else "dim", action), ("dim", f"  at close {fmt.stamp(ind.get('t'))}")])
            zc = fmt.heat(fmt.closeness(z, entry_z))
            rc = fmt.heat(0.0 if rsi is None else 1.0 if not s.rsi_oversold <= rsi <=
                          s.rsi_overbought else 0.8 if not s.rsi_oversold + 5 <= rsi <=
                          s.rsi_overbought - 5 else 0.0)
            ac = "hot" if adx is not None and adx < s.adx_max else "cold"
            out.append([f"  z   {_num(z, '+.2f'):>7} ", (zc, fmt.bar(z, entry_z, entry_z * 1.5,
                                                                     20)),
                        ("dim", f" ±{entry_z:g} to enter")])
            out.append([f"  RSI {_num(rsi, '.1f'):>7} ", (rc, fmt.bar(rsi, s.rsi_overbought,
                                                                      100.0, 20)),
                        ("dim", f" <{s.rsi_oversold:g} long, >{s.rsi_overbought:g} short")])
            out.append([f"  ADX {_num(adx, '.1f'):>7} ", (ac, fmt.bar(adx, s.adx_max, 100.0,
                                                                      20)),
                        ("dim", f" <{s.adx_max:g} to enter")])
        return out or [[("dim", "no symbols")]]

    def _risk(self, m, st) -> list:
        p = self.cfg.risk
        r = st.get("risk") if m.online else None
        led = m.ledger
        if r is None and not led:
            return [[("dim", "no data yet")]] + \
                ([[("warn", f"store: {m.store_error}")]] if m.store_error else [])
        paused = (r or led).get("paused")
        halted = (r or led).get("halted")
        today = (r or led).get("realized_today") or 0.0
        equity = st.get("realized_equity") if m.online else led.get("equity")
        cap = (r or {}).get("daily_loss_cap") or p.daily_loss_cap_pct * (equity or p.capital)
        held = {q["symbol"]: q for q in (st.get("positions") if m.online else m.positions) or []}
        n_pos = len(held)
        cooldown = (r or led).get("cooldown_until")
        now = (st.get("clock") if m.online else None) or int(time.time() * 1000)
        level = (st.get("regime") or {}).get("level", "NORMAL") if m.online else "NORMAL"
        # the risk gate's own entry checks, in its order
        block = risk.entry_refusal(risk.RiskState(
            positions=held, equity=equity or p.capital, realized_today=today,
            cooldown_until=cooldown, paused=bool(paused), halted=bool(halted)), now, level, p)
        out = [[("title", "entries "), ("good", "allowed") if block is None else
                ("bad", f"blocked: {block}")]]
        out.append(["today     ", (fmt.pnl_colour(today), fmt.money(today, sign=True)),
                    f" of -{fmt.money(cap)} cap ",
                    (fmt.heat(fmt.closeness(min(0.0, today), cap)),
                     fmt.bar(min(0.0, today), cap, cap * 1.2, 12))])
        left = (cooldown - now) / 1000 if cooldown and now < cooldown else None
        out.append(f"cooldown  {fmt.uptime(left) if left else 'none'}")
        out.append([f"positions {n_pos} of {p.max_positions}",
                    ("warn" if n_pos >= p.max_positions else "text", "")])
        sl = (r or {}).get("slippage") or m.slippage or {}
        if sl.get("count"):
            out.append(f"slippage  {sl['count']} fills, mean {sl['mean_bps']:.1f} bp, "
                       f"max {sl['max_bps']:.1f} bp")
        else:
            out.append("slippage  no fills yet")
        errs = st.get("errors") or []
        if m.online and errs:
            out.append([("bad", f"last error: {errs[-1].get('msg', '')}")])
        if m.store_error:
            out.append([("warn", f"store: {m.store_error}")])
        return out

    def _trades(self, m) -> list:
        if not m.trades:
            return [[("dim", "no closed trades yet")]]
        out = []
        for t, sym, _, side, _, _, _, _, pnl, reason, _ in m.trades[:30]:
            out.append([f"{fmt.stamp(t)} {sym:<5} {side:<5} ",
                        (fmt.pnl_colour(pnl), f"{fmt.money(pnl, sign=True):>9}"),
                        ("dim", f" {reason}")])
        return out

    # dialogs and keys -------------------------------------------------------------------------

    def _overlay(self, text, attr="dialog", width=56) -> None:
        body = urwid.AttrMap(urwid.LineBox(urwid.Filler(urwid.Text(text), valign="top")), attr)
        height = (len(text) if isinstance(text, list) else text.count("\n")) + 4
        self.top = urwid.Overlay(body, self.frame, "center", ("relative", 60), "middle",
                                 max(6, height), min_width=min(width, 40))

    def close_dialog(self) -> None:
        self.dialog, self.top = None, self.frame

    def key(self, k: str) -> bool:
        """Handle one key; False to quit."""
        if self.dialog == "help":
            self.close_dialog()
            return True
        if self.dialog == "close":
            if k == "y" and self.source is not None:
                self.source.command("emergency_close")
            self.close_dialog()             # y sends; Esc and any other key cancel
            return True
        if k in ("q", "Q"):
            return False
        if k == "?":
            self.dialog = "help"
            self._overlay(HELP)
        elif k in ("p", "r") and self.source is not None:
            self.source.command("pause" if k == "p" else "resume")
        elif k == "e":
            self.dialog = "close"
            st = (self.model.state or {}) if self.model else {}
            rows = st.get("positions") if self.model and self.model.online else \
                (self.model.positions if self.model else [])
            lines = [("dialog_bad", "EMERGENCY CLOSE\n\n")]
            if rows:
                lines += [f"  {p['side']} {p['size']:g} {p['symbol']} @ {fmt.price(p['entry'])}\n"
                          for p in rows]
                lines.append("\nclose all at the market and pause entries?\n")
            else:
                lines.append("no open positions; entries will be paused\n")
            lines.append("\n  y  yes, close them        Esc  cancel")
            self._overlay(lines)
        return True


def render_text(screen: Screen, cols: int, rows: int) -> str:
    """One frame as plain text (no escape sequences)."""
    canvas = screen.top.render((cols, rows))
    return "\n".join(line.decode("utf-8", errors="replace").rstrip() for line in canvas.text)
