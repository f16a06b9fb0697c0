"""The live ledger made to agree with the exchange, at the loop's start and before every tick
decides: the exchange is the truth (clearinghouseState, frontendOpenOrders, userFillsByTime).

- A position on the exchange the ledger lacks is adopted (entry from the exchange, reason
  reconciled_adopted).
- A ledger position the exchange no longer has is closed in the ledger at the fills that closed
  it (reason exchange_stop when they are its stop's, reconciled_closed otherwise), or at the mid
  when no fill is found (reconciled_missing).
- A size that differs follows the exchange.
- A position without a resting stop gets one.
- A resting order of ours (in the live order journal) that no intent owns any more is cancelled:
  no entry or exit is being worked while the loop reconciles, and a stop belongs to an open
  position.
- The account value is kept for the risk gate (risk.capital becomes a cap).

First, an intent whose orders were sent by a process that died (a tick never finished) is
finished: its orders are resolved by cloid and worked to the end, its fills booked under its
own cloid, so a crash neither loses a fill nor turns it into an adoption.

Each change is one warning line.
"""

from __future__ import annotations

from .. import records
from ..timeutil import MINUTE_MS
from . import costs
from .live import LiveTrader, order_cloid, sum_fills

FILLS_SEEN = "fills_seen:live"


def reconcile(trader: LiveTrader, now: int) -> dict:
    """One reconciliation; what it changed, by kind (for the start line and the tests)."""
    store, venue, log = trader.store, trader.venue, trader.log
    done = {"adopted": [], "closed": [], "resized": [], "stops": [], "cancelled": []}
    for o in store.live_orders(statuses=("sending",)):
        trader.resolve_sending(o.intent)
    for intent in store.unfinished_intents("live"):
        orders = store.live_orders(intent=intent["cloid"])
        if any(o.status != "never" for o in orders):
            log.warning("reconciled: finishing an intent a stopped process had sent",
                        symbol=intent["symbol"], cloid=intent["cloid"], action=intent["action"])
            trader.execute(intent, now)
    state = venue.state()
    held = venue.positions(state)
    store.set_state("account_value:live", repr(venue.account_value(state)), trader.wall_ms())
    ledger = {p.symbol: p for p in store.open_positions("live")}
    # closed on the exchange: the fills that closed it
    for sym, pos in list(ledger.items()):
        x = held.get(sym)
        if x is not None and x.side == pos.side:
            continue
        rec = _book_close(trader, pos, now)
        done["closed"].append(rec)
        log.warning("reconciled: a ledger position the exchange no longer has is closed",
                    symbol=sym, reason=rec["reason"], price=rec["price"], pnl=rec["pnl"])
        ledger.pop(sym)
    for sym, x in held.items():
        pos = ledger.get(sym)
        if pos is None:
            pos = _adopt(trader, x, now, state.get("time", now))
            done["adopted"].append(sym)
            log.warning("reconciled: a position on the exchange is adopted", symbol=sym,
                        side=x.side, size=abs(x.szi), entry=x.entry)
        elif abs(abs(x.szi) - pos.size) > 0.5 * 10 ** -venue.szd[sym]:
            store.resize_position(pos.cloid, abs(x.szi), "live")
            done["resized"].append(sym)
            log.warning("reconciled: the ledger's size follows the exchange", symbol=sym,
                        ledger_size=pos.size, exchange_size=abs(x.szi))
        ledger[sym] = store.open_position(sym, "live")
    # resting orders: our stops checked, our orphans cancelled
    resting = venue.open_orders()
    ours = {o.cloid: o for o in store.live_orders()}
    stop_ok = set()
    for o in resting:
        mine = ours.get(o.get("cloid") or "")
        if mine is None:
            continue                        # not ours: a person's order is left alone
        pos = ledger.get(mine.symbol)
        if mine.kind == "stop" and pos is not None and mine.intent == pos.cloid and \
                abs(float(o["sz"]) - pos.size) <= 0.5 * 10 ** -venue.szd[mine.symbol]:
            stop_ok.add(mine.symbol)
            continue
        if trader._cancel(mine.symbol, mine.cloid):
            done["cancelled"].append(mine.cloid)
            log.warning("reconciled: a resting order no intent owns is cancelled",
                        symbol=mine.symbol, cloid=mine.cloid, kind=mine.kind)
    for sym, pos in ledger.items():
        if sym not in stop_ok:
            log.warning("reconciled: the position has no stop on the exchange; placing it",
                        symbol=sym, size=pos.size)
            for o in store.live_orders(intent=pos.cloid, kinds=("stop",),
                                       statuses=("resting",)):
                store.update_order(o.cloid, "gone", trader.wall_ms())
            trader.place_stop(sym, pos.side, pos.size, pos.price, pos.cloid, now)
            done["stops"].append(sym)
    return done


def _adopt(trader: LiveTrader, x, now: int, t: int):
    cloid = order_cloid(f"adopt|{x.coin}|{t}", "adopt", 1)
    intent = records.make("intent", symbol=x.coin, t=now, action="open", side=x.side,
                          size=abs(x.szi), price=x.entry, reason="reconciled_adopted",
                          cloid=cloid, decided_at=now)
    rec = records.make("fill", symbol=x.coin, t=now, side=x.side, size=abs(x.szi),
                       price=x.entry, fee=0.0, cloid=cloid, trade_id=f"live-{cloid[2:]}",
                       mode="live", action="open", reason="reconciled_adopted", mid=x.entry,
                       slippage=0.0, taker=False)
    trader.store.record_fill(intent, rec)
    return trader.store.open_position(x.coin, "live")


def _book_close(trader: LiveTrader, pos, now: int) -> dict:
    """The ledger's close of a position the exchange no longer has."""
    store, venue = trader.store, trader.venue
    stop_oids = {oid for o in store.live_orders(intent=pos.cloid, kinds=("stop",))
                 for oid in o.oids}
    fills = [f for f in venue.fills(pos.t) if f["coin"] == pos.symbol and
             f["dir"].startswith("Close") and f["time"] >= pos.t]
    # the fills of our own exit orders were booked by execute; these are the rest
    booked = {oid for o in store.live_orders(symbol=pos.symbol, kinds=("exit",))
              for oid in o.oids}
    fills = [f for f in fills if f["oid"] not in booked]
    is_stop = any(f["oid"] in stop_oids for f in fills)
    reason = "exchange_stop" if is_stop else "reconciled_closed" if fills else \
        "reconciled_missing"
    cloid = order_cloid(pos.cloid, "reconciled_close", 0)
    if fills:
        s = sum_fills(fills)
        price, fee, t, taker, oids = s.price, s.fee, s.t, s.taker, s.oids
    else:
        price, fee, t, taker, oids = venue.mid(pos.symbol), 0.0, now, False, []
    intent = records.make("intent", symbol=pos.symbol, t=t, action="close", side=pos.side,
                          size=pos.size, price=price, reason=reason, cloid=cloid, decided_at=t)
    funding = venue.funding(pos.symbol, pos.t, t)
    rec = records.make("fill", symbol=pos.symbol, t=t, side=pos.side, size=pos.size,
                       price=price, fee=fee, cloid=cloid, trade_id=f"live-{cloid[2:]}",
                       mode="live", action="close", reason=reason, mid=price, slippage=0.0,
                       taker=taker, funding=funding, entry_price=pos.price,
                       pnl=costs.realized_pnl(pos.side, pos.size, pos.price, price,
                                              pos.fee + fee, funding))
    if oids:
        rec.update(oid=oids[-1], oids=oids)
    store.record_fill(intent, rec)
    if is_stop:
        cooldown = t + int(trader.cfg.risk.cooldown_minutes * MINUTE_MS)
        store.set_cooldown_until("live", max(cooldown, store.cooldown_until("live") or 0), now)
    return rec
