"""hl-sim's order engine: orders checked by the exchange's rules (hl/rules.py: tick, lot, $10
minimum; and reduce only, margin), matched against a synthetic book one basis point either side
of the mid, resting orders filled when the mid trades through them, stop triggers fired on the
mark, positions and fills kept per account in the exchange's shapes (reference §2.6-2.11,
§3.2-3.8, §5.3).

Fills are the exchange's truth for the live executor's tests: a taker pays 0.045%, a maker
0.015% of the notional; a position's realized PnL goes to the account's balance, and so does
its hourly funding (the market's rate on the notional at the mark each hour).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..hl.rules import MIN_NOTIONAL, price_ok, size_ok
from ..timeutil import HOUR_MS
from .market import FUNDING_OFFSET_MS

HALF_SPREAD = 0.0001            # the synthetic book: bid and ask 1 bp from the mid
MAKER_FEE, TAKER_FEE = 0.00015, 0.00045


@dataclass
class Order:
    oid: int
    account: str
    coin: str
    is_buy: bool
    px: float
    sz: float
    reduce_only: bool
    tif: str | None                 # Alo, Ioc, Gtc; None for a trigger
    trigger: dict | None            # {"isMarket", "triggerPx", "tpsl"}
    cloid: str | None
    timestamp: int
    orig_sz: float = 0.0
    status: str = "open"            # open, filled, canceled, triggered, rejected
    status_t: int = 0

    def __post_init__(self):
        self.orig_sz = self.orig_sz or self.sz


@dataclass
class Position:
    szi: float = 0.0                # signed size
    entry: float = 0.0
    funded_to: int = 0              # funding paid for every hour up to this one (ms)
    funding: float = 0.0            # paid since open (cumFunding.sinceOpen: negative received)


def _fmt(x: float) -> str:
    return repr(round(x, 8))


@dataclass
class Book:
    """Every account's orders, positions and fills."""

    orders: dict = field(default_factory=dict)              # oid -> Order
    positions: dict = field(default_factory=dict)           # (account, coin) -> Position
    fills: dict = field(default_factory=dict)               # account -> [fill dicts]
    realized: dict = field(default_factory=dict)            # account -> closed PnL - fees
    placed: dict = field(default_factory=dict)              # cloid -> orders placed with it
    funding: dict = field(default_factory=dict)             # account -> [funding payments]
    oids: itertools.count = field(default_factory=lambda: itertools.count(1_000_000))
    tids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # placing ------------------------------------------------------------------------------------

    def place(self, ex, account: str, wire: dict, now: int, modify: bool = False) -> dict:
        """One order wire placed for `account`: its status entry in the exchange's shape. Orders
        taken under a cloid already used are counted (`duplicates`): the tests' proof that no
        intent was ever placed twice."""
        status = self._place(ex, account, wire, now)
        cloid = wire.get("c")
        if cloid and "error" not in status and not modify:
            self.placed[cloid] = self.placed.get(cloid, 0) + 1
        return status

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.placed.values() if n > 1)

    def _place(self, ex, account: str, wire: dict, now: int) -> dict:
        coins = list(ex.markets)
        if not 0 <= wire["a"] < len(coins):
            return {"error": "Invalid asset"}
        coin = coins[wire["a"]]
        market = ex.markets[coin]
        szd = market.sz_decimals(now)
        px, sz, is_buy = float(wire["p"]), float(wire["s"]), bool(wire["b"])
        if not price_ok(px, szd):
            return {"error": "Price must be divisible by tick size."}
        if not size_ok(sz, szd):
            return {"error": "Order has invalid size"}
        if px * sz < MIN_NOTIONAL:
            return {"error": "Order must have minimum value of $10."}
        pos = self.positions.get((account, coin), Position())
        if wire["r"] and (pos.szi == 0 or (pos.szi > 0) == is_buy):
            return {"error": "Reduce only order would increase position."}
        mid = float(ex.mids(now)[coin])
        increases = pos.szi == 0 or (pos.szi > 0) == is_buy
        if increases and not wire["r"] and not self._margin_ok(ex, account, px * sz, now):
            return {"error": "Insufficient margin to place order."}
        t = wire["t"]
        order = Order(next(self.oids), account, coin, is_buy, px, sz, bool(wire["r"]),
                      t["limit"]["tif"] if "limit" in t else None,
                      dict(t["trigger"]) if "trigger" in t else None, wire.get("c"), now)
        ids = {"oid": order.oid, **({"cloid": order.cloid} if order.cloid else {})}
        if order.trigger is not None:
            order.trigger["triggerPx"] = float(order.trigger["triggerPx"])
            self.orders[order.oid] = order
            return {"resting": ids}
        bid, ask = mid * (1 - HALF_SPREAD), mid * (1 + HALF_SPREAD)
        crosses = px >= ask if is_buy else px <= bid
        if order.tif == "Alo" and crosses:
            return {"error": f"Post only order would have immediately matched, bbo was "
                             f"{_fmt(bid)}@{_fmt(ask)}."}
        if crosses:
            fill_px = min(px, ask) if is_buy else max(px, bid)
            self._fill(order, fill_px, sz, now, crossed=True)
            return {"filled": {"totalSz": _fmt(sz), "avgPx": _fmt(fill_px), **ids}}
        if order.tif == "Ioc":
            order.status, order.status_t = "canceled", now
            self.orders[order.oid] = order
            return {"error": "Order could not immediately match against any resting orders."}
        self.orders[order.oid] = order
        return {"resting": ids}

    def _margin_ok(self, ex, account: str, notional: float, now: int) -> bool:
        mids = ex.mids(now)
        used = sum(abs(p.szi) * float(mids[coin]) for (a, coin), p in self.positions.items()
                   if a == account)
        leverage = max((lev for lev, _ in ex.account(account).leverage.values()), default=20)
        return (used + notional) / leverage <= self.account_value(ex, account, now)

    # filling ------------------------------------------------------------------------------------

    def _fill(self, order: Order, px: float, sz: float, now: int, crossed: bool) -> None:
        key = (order.account, order.coin)
        pos = self.positions.setdefault(key, Position())
        signed = sz if order.is_buy else -sz
        start = pos.szi
        closed = 0.0
        if start != 0 and (start > 0) != order.is_buy:
            closing = min(abs(start), sz)
            closed = (px - pos.entry) * closing * (1 if start > 0 else -1)
        new = start + signed
        if start == 0 or new == 0 or (new > 0) != (start > 0):
            pos.funded_to, pos.funding = now - now % HOUR_MS, 0.0     # a new position
        if new == 0 or (start != 0 and (new > 0) != (start > 0)):
            pos.entry = px if new != 0 else 0.0
        elif abs(new) > abs(start):
            pos.entry = (pos.entry * abs(start) + px * sz) / abs(new)
        pos.szi = round(new, 10)
        fee = px * sz * (TAKER_FEE if crossed else MAKER_FEE)
        self.realized[order.account] = self.realized.get(order.account, 0.0) + closed - fee
        direction = ("Open " if start == 0 or (start > 0) == order.is_buy else "Close ") + \
            ("Long" if (start > 0 if start != 0 else order.is_buy) else "Short")
        fill = {"coin": order.coin, "px": _fmt(px), "sz": _fmt(sz),
                "side": "B" if order.is_buy else "A", "time": now, "startPosition": _fmt(start),
                "dir": direction, "closedPnl": _fmt(closed), "hash": "0x" + "0" * 64,
                "oid": order.oid, "crossed": crossed, "fee": _fmt(fee), "tid": next(self.tids),
                "feeToken": "USDC"}
        if order.cloid:
            fill["cloid"] = order.cloid
        self.fills.setdefault(order.account, []).append(fill)
        order.sz = round(order.sz - sz, 10)
        order.status = "filled" if order.sz <= 0 else order.status
        order.status_t = now
        self.orders[order.oid] = order

    def pay_funding(self, ex, now: int) -> None:
        """Every hour boundary a position has lived through pays that hour's rate on its
        notional at the mark then: a long pays a positive rate, a short receives it."""
        for (account, coin), pos in self.positions.items():
            if not pos.szi:
                continue
            market = ex.markets[coin]
            for h in range(pos.funded_to + HOUR_MS, now - now % HOUR_MS + 1, HOUR_MS):
                mark = market.price_at(h)
                if mark is None:
                    continue
                paid = pos.szi * mark * market.funding_at(h + FUNDING_OFFSET_MS)
                pos.funding += paid
                self.realized[account] = self.realized.get(account, 0.0) - paid
                self.funding.setdefault(account, []).append(
                    {"time": h, "coin": coin, "usdc": _fmt(-paid), "szi": _fmt(pos.szi),
                     "fundingRate": _fmt(market.funding_at(h + FUNDING_OFFSET_MS))})
            pos.funded_to = max(pos.funded_to, now - now % HOUR_MS)

    def _resting_fill(self, ex, order: Order, now: int) -> float:
        """How much of a resting order the price trading through it fills: all of it, or with
        --resting-fill F at most F of its original size per look (partial fills)."""
        frac = ex.resting_fill
        if frac >= 1.0:
            return order.sz
        if order.sz < order.orig_sz and order.status_t == now:
            return 0.0                      # one part per instant, however often it is asked
        lot = 10 ** -ex.markets[order.coin].sz_decimals(now)
        part = max(lot, round(order.orig_sz * frac / lot) * lot)
        return round(min(order.sz, part), 10)

    def sweep(self, ex, now: int) -> None:
        """Funding due is paid; resting limits the mid has traded through fill at their price
        (maker); triggers whose mark has crossed fill at the mark (taker, a market order)."""
        self.pay_funding(ex, now)
        mids = ex.mids(now)
        for order in [o for o in self.orders.values() if o.status == "open"]:
            mid = float(mids[order.coin])
            if order.trigger is None:
                through = mid <= order.px if order.is_buy else mid >= order.px
                size = self._resting_fill(ex, order, now) if through else 0.0
                if size > 0:
                    self._fill(order, order.px, size, now, crossed=False)
                continue
            pos = self.positions.get((order.account, order.coin), Position())
            trig, sl = order.trigger["triggerPx"], order.trigger["tpsl"] == "sl"
            # a sell stop fires when the mark falls to it, a buy stop when it rises to it
            fired = (mid <= trig) if (sl != order.is_buy) else (mid >= trig)
            if fired:
                size = min(order.sz, abs(pos.szi)) if order.reduce_only else order.sz
                order.status = "triggered"
                if size > 0:
                    self._fill(order, mid, size, now, crossed=True)
                order.status, order.status_t = "filled", now

    # cancelling and asking ----------------------------------------------------------------------

    def cancel(self, account: str, oid: int | None = None, cloid: str | None = None,
               now: int = 0) -> str | dict:
        for o in self.orders.values():
            if o.account == account and o.status == "open" and \
                    (o.oid == oid if oid is not None else o.cloid == cloid):
                o.status, o.status_t = "canceled", now
                return "success"
        return {"error": "Order was never placed, already canceled, or filled."}

    def modify(self, ex, account: str, oid_or_cloid, wire: dict, now: int) -> dict:
        """A resting order replaced by `wire` (a new oid; the cloid the wire gives)."""
        old = self.find(account, oid_or_cloid)
        if old is None or old.status != "open":
            return {"error": "Cannot modify canceled or filled order"}
        old.status, old.status_t = "canceled", now
        status = self.place(ex, account, wire, now, modify=True)
        if "error" in status:
            old.status = "open"             # a refused modify leaves the order as it was
        return status

    def find(self, account: str, oid_or_cloid) -> Order | None:
        """The newest order of that oid or cloid (a modify's new order keeps the cloid)."""
        found = None
        for o in self.orders.values():
            if o.account == account and (o.oid == oid_or_cloid or o.cloid == oid_or_cloid):
                found = o
        return found

    def open_orders(self, account: str) -> list[Order]:
        return [o for o in self.orders.values() if o.account == account and o.status == "open"]

    def account_value(self, ex, account: str, now: int) -> float:
        mids = ex.mids(now)
        unreal = sum((float(mids[coin]) - p.entry) * p.szi
                     for (a, coin), p in self.positions.items() if a == account and p.szi)
        return ex.account(account).balance + self.realized.get(account, 0.0) + unreal
