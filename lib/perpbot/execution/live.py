"""Live execution on Hyperliquid: intents become signed orders, fills come from the exchange.

- An entry is a post-only (Alo) limit at the touch on the passive side (a buy at the best bid,
  a sell at the best ask) with the intent's cloid. While it rests it follows the touch (a
  batchModify keeps the cloid; the exchange gives a new oid), never further than
  execution.max_slippage_bps from the decision price; after execution.entry_timeout_s it is
  cancelled, and with entry_fallback: ioc the rest crosses (IOC) within that bound. A partial
  fill is kept and sized as filled.
- After an entry fills, a reduce-only market stop (tpsl sl) rests on the exchange at
  backtest.exchange_stop_pct from the entry, rounded to the tick. If it cannot be placed after
  one retry, the position is closed at once (reduce-only IOC) and that is logged as critical.
- An exit cancels the stop, then sends a reduce-only IOC for the exchange's whole position,
  bounded by max_slippage_bps from the mid, and retries the rest; never more than the position.
- Every order is journalled in the store (live_orders) before it is sent. An order whose
  outcome is unknown is resolved by asking the exchange by cloid, here or in the next process;
  only a cloid the exchange has never seen is sent again.
- Price, size, fee and time of a fill are the exchange's (userFillsByTime, matched by oid): one
  fill record per filled intent, the volume-weighted price, the summed fee, the slippage in bps
  from the decision price.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from .. import records
from ..errors import PerpbotError, TemporaryFailure, UsageError
from ..hl import parse, signing
from ..hl.exchange import ExchangeRefused, OutcomeUnknown
from ..hl.rules import MIN_NOTIONAL, round_price
from . import costs
from .account import exchange_stop_price

POLL_S = 1.0                # how often a resting entry is looked at (4 weight: orderStatus, l2Book)
STOP_TRIES = 2              # the stop is placed, then retried once
EXIT_TRIES = 3              # reduce-only IOCs sent for one exit before giving up for this run
FILL_WAIT_S = 5.0           # how long fills may lag the order's status
MARKET_TRIGGER_SLIPPAGE = 0.10      # the exchange's own tolerance for a market trigger
TERMINAL = ("filled", "canceled", "rejected", "never")


class LiveStartRefused(PerpbotError):
    """The exchange refused what a start needs (leverage): nothing is traded (exit 1)."""


def order_cloid(intent_cloid: str, kind: str, seq: int) -> str:
    """The cloid of an intent's order: the intent's own for its first entry or exit, a derived
    one for the rest (re-sends, IOC fallbacks, stops), the same on every run."""
    if seq == 0 and kind in ("entry", "exit"):
        return intent_cloid
    return "0x" + hashlib.sha256(f"{intent_cloid}|{kind}|{seq}".encode()).hexdigest()[:32]


def floor_size(size: float, sz_decimals: int) -> float:
    """A size rounded down to the lot (a hair of float error does not lose a lot)."""
    scale = 10 ** sz_decimals
    return math.floor(round(size * scale, 6)) / scale


@dataclass(frozen=True)
class ExPosition:
    coin: str
    szi: float                      # signed size: positive long
    entry: float
    funding_since_open: float       # paid by the account (the exchange's cumFunding.sinceOpen)

    @property
    def side(self) -> str:
        return "long" if self.szi > 0 else "short"


class Venue:
    """The exchange as live trading sees it: meta, the touch, the account, orders and fills
    (POST /info, per-user queries naming the traded account), and signed actions."""

    def __init__(self, info, client, account):
        self.info, self.client, self.account = info, client, account
        meta = info.meta()
        self.asset_of = parse.asset_index(meta)
        self.szd = parse.size_decimals(meta)

    def asset(self, coin: str) -> int:
        if coin not in self.asset_of:
            raise UsageError(f"{coin}: not a perp in the exchange's meta")
        return self.asset_of[coin]

    def _user(self, rtype: str, **extra):
        return self.info.post_info({"type": rtype, "user": self.account.address, **extra})

    def touch(self, coin: str) -> tuple[float, float]:
        book = self.info.post_info({"type": "l2Book", "coin": coin})
        bids, asks = book["levels"]
        if not bids or not asks:
            raise TemporaryFailure(f"l2Book {coin}: an empty side; no touch to quote")
        return float(bids[0]["px"]), float(asks[0]["px"])

    def mid(self, coin: str) -> float:
        return float(self.info.all_mids()[coin])

    def state(self) -> dict:
        return self._user("clearinghouseState")

    @staticmethod
    def positions(state: dict) -> dict[str, ExPosition]:
        out = {}
        for ap in state.get("assetPositions", []):
            p = ap["position"]
            szi = float(p["szi"])
            if szi:
                out[p["coin"]] = ExPosition(p["coin"], szi, float(p["entryPx"]),
                                            float(p.get("cumFunding", {}).get("sinceOpen", 0)))
        return out

    @staticmethod
    def account_value(state: dict) -> float:
        return float(state["marginSummary"]["accountValue"])

    def fills(self, start: int) -> list[dict]:
        """The account's fills from `start` (ms, inclusive), oldest first, every page."""
        out: list[dict] = []
        while True:
            page = self._user("userFillsByTime", startTime=start, aggregateByTime=False)
            out.extend(page)
            if len(page) < 2000:
                return out
            start = max(f["time"] for f in page) + 1

    def funding(self, coin: str, start: int, end: int) -> float:
        """Funding the account received on `coin` in [start, end] (userFunding; paid < 0)."""
        rows = self._user("userFunding", startTime=start, endTime=end)
        return sum(float(r["delta"]["usdc"]) for r in rows if r["delta"].get("coin") == coin)

    def order(self, cloid: str) -> dict | None:
        """orderStatus by cloid: {"status", "oid", "sz" (left), "px"}, or None when unknown."""
        st = self._user("orderStatus", oid=cloid)
        if st.get("status") != "order":
            return None
        o = st["order"]["order"]
        return {"status": st["order"]["status"], "oid": o["oid"], "sz": float(o["sz"]),
                "px": float(o["limitPx"])}

    def open_orders(self) -> list[dict]:
        return self._user("frontendOpenOrders")


@dataclass(frozen=True)
class FillSum:
    """The exchange's fills of an order (or of all an intent's orders) taken as one."""

    size: float
    price: float                # volume-weighted
    fee: float
    t: int                      # the last fill's time
    oid: int                    # the last fill's order
    oids: list                  # every order they came from, ascending
    taker: bool                 # any of them crossed


def sum_fills(fills: list[dict]) -> FillSum:
    size = sum(float(f["sz"]) for f in fills)
    last = max(fills, key=lambda f: (f["time"], f["tid"]))
    return FillSum(size, sum(float(f["px"]) * float(f["sz"]) for f in fills) / size,
                   sum(float(f["fee"]) for f in fills), int(last["time"]), int(last["oid"]),
                   sorted({int(f["oid"]) for f in fills}), any(f.get("crossed") for f in fills))


def _first_status(statuses: list) -> tuple[str, dict]:
    """The one order's status of a one-order action, as (kind, detail)."""
    return _status_of(statuses[0]) if statuses else ("error", {"text": "no status"})


def _status_of(entry) -> tuple[str, dict]:
    """One entry of an order's `statuses` as (kind, detail): resting, filled, error or waiting."""
    if isinstance(entry, str):
        return "waiting", {"text": entry}
    if "error" in entry:
        return "error", {"text": entry["error"]}
    kind = next(iter(entry))
    return kind, entry[kind]


class LiveTrader:
    """Orders, stops and reconciliation for one account, journalled in `store`."""

    def __init__(self, store, venue: Venue, cfg, log, wall_ms=None, sleep=time.sleep):
        self.store, self.venue, self.cfg, self.log = store, venue, cfg, log
        self.ex = cfg.execution
        self.wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self.sleep = sleep
        self.leverage_set: set[str] = set()

    def execute(self, intent: dict, now: int) -> list[dict]:
        """The fill records of one intent (normally one; a close forced by a stop that could not
        be placed adds its own), filling it unless the ledger has it filled already."""
        recorded = self.store.fill_by_cloid(intent["cloid"], "live")
        if recorded is not None:
            return [recorded]
        if intent["action"] == "close":
            return self.close(intent, now)
        if self.store.open_position(intent["symbol"], "live") is not None:
            self._warn("open intent while a position is open: skipped", intent)
            return []
        return self.open(intent, now)

    # the account's settings ---------------------------------------------------------------------

    def ensure_leverage(self, coins) -> None:
        """risk.leverage, cross, on every coin, once per process before its first order there
        (the exchange's setting may have been changed by hand since); a refusal stops the
        start with the exchange's words."""
        lev = int(self.cfg.risk.leverage)
        for coin in coins:
            if coin in self.leverage_set:
                continue
            action = signing.update_leverage_action(self.venue.asset(coin), lev, True)
            for k in range(3):      # setting leverage twice is harmless: a lost answer is resent
                try:
                    self.venue.client.send(action)
                    break
                except ExchangeRefused as e:
                    raise LiveStartRefused(f"updateLeverage {coin} {lev}x cross refused: "
                                           f"{e.msg}") from None
                except OutcomeUnknown:
                    if k == 2:
                        raise
            self.leverage_set.add(coin)
            self.log.info("leverage set", symbol=coin, leverage=lev, cross=True)

    # sending, journalled ------------------------------------------------------------------------

    def _send_order(self, intent_cloid: str, coin: str, kind: str, seq: int, is_buy: bool,
                    px: float, size: float, reduce_only: bool, order_type: dict) -> tuple:
        """Journal, sign and send one order; (kind, detail) of its status."""
        cloid = order_cloid(intent_cloid, kind, seq)
        szd = self.venue.szd[coin]
        wire = signing.order_wire(self.venue.asset(coin), is_buy, px, floor_size(size, szd),
                                  reduce_only, order_type, cloid)
        self.store.journal_order(cloid, intent_cloid, coin, kind, seq, px, self.wall_ms())
        kind_, detail = _first_status(self.venue.client.place([wire]))
        now = self.wall_ms()
        if kind_ in ("resting", "waiting"):
            self.store.update_order(cloid, "resting", now, detail.get("oid"), px)
        elif kind_ == "filled":
            self.store.update_order(cloid, "filled", now, detail.get("oid"), px)
        elif kind_ == "error":
            self.store.update_order(cloid, "rejected", now)
        else:                                   # canceled, or another terminal word
            self.store.update_order(cloid, "canceled", now, detail.get("oid"), px)
        return kind_, detail

    def resolve_sending(self, intent_cloid: str, kinds=None) -> list:
        """An intent's orders, those journalled `sending` (a process died, or the answer was
        lost) first resolved by asking the exchange by cloid: `never` when it has not seen it."""
        orders = self.store.live_orders(intent=intent_cloid, kinds=kinds)
        pending = [o for o in orders if o.status == "sending"]
        for o in pending:
            st = self.venue.order(o.cloid)
            if st is None:
                self.store.update_order(o.cloid, "never", self.wall_ms())
            else:
                self.store.update_order(o.cloid, _journal_status(st["status"]), self.wall_ms(),
                                        st["oid"], st["px"])
        return self.store.live_orders(intent=intent_cloid, kinds=kinds) if pending else orders

    # fills --------------------------------------------------------------------------------------

    def fills_of(self, intent_cloid: str, kinds, start: int, expect: float | None = None) -> list:
        """The exchange's fills of an intent's orders of these kinds (by oid or cloid); with
        `expect`, wait a moment for fills that lag the orders' status."""
        deadline = time.monotonic() + FILL_WAIT_S
        while True:
            orders = self.store.live_orders(intent=intent_cloid, kinds=kinds)
            oids = {oid for o in orders for oid in o.oids}
            cloids = {o.cloid for o in orders}
            got = [f for f in self.venue.fills(start)
                   if f["oid"] in oids or f.get("cloid") in cloids]
            filled = sum(float(f["sz"]) for f in got)
            if expect is None or filled >= expect - 1e-12 or time.monotonic() > deadline:
                return got
            self.sleep(POLL_S)

    # entries ------------------------------------------------------------------------------------

    def _bound(self, ref: float, is_buy: bool, szd: int) -> float:
        """The worst price an order may take: max_slippage_bps from `ref`."""
        b = self.ex.max_slippage_bps / 10_000
        return round_price(ref * (1 + b), szd, "down") if is_buy else \
            round_price(ref * (1 - b), szd, "up")

    def open(self, intent: dict, now: int) -> list[dict]:
        cloid, coin, side = intent["cloid"], intent["symbol"], intent["side"]
        is_buy = side == "long"
        szd = self.venue.szd[coin]
        orders = self.resolve_sending(cloid)
        if all(o.status in ("never", "rejected") for o in orders):     # nothing ever rested
            age_s = (now - intent.get("decided_at", intent["t"])) / 1000
            if age_s > self.ex.max_intent_age_s:
                self._warn("intent too old: not placed", intent, age_s=round(age_s, 1),
                           max_intent_age_s=self.ex.max_intent_age_s)
                return []
            held = self.venue.positions(self.venue.state()).get(coin)
            if held is not None:
                self._warn("a position is already open on the exchange: entry not placed",
                           intent, exchange_size=held.szi)
                return []
            size = floor_size(intent["size"], szd)
            if size <= 0 or size * intent["price"] < MIN_NOTIONAL:
                self._warn("entry below the exchange's $10 minimum: not placed", intent,
                           size=size)
                return []
            self.ensure_leverage([coin])
        else:
            size = floor_size(intent["size"], szd)
        filled = self._work_entry(intent, size, is_buy, szd)
        fills = self.fills_of(cloid, ("entry", "entry_ioc"), intent["t"], expect=filled)
        if not fills:
            self._warn("entry not filled: cancelled", intent,
                       entry_timeout_s=self.ex.entry_timeout_s)
            return []
        rec = self._fill_record(intent, fills, "open")
        self.store.record_fill(intent, rec)
        out = [rec]
        out += self.place_stop(coin, side, rec["size"], rec["price"], cloid, rec["t"])
        return out

    def _work_entry(self, intent: dict, size: float, is_buy: bool, szd: int) -> float:
        """Rest the post-only entry at the touch, follow the touch, cancel it at the timeout,
        then the IOC fallback if configured; the size filled (from the orders' status)."""
        cloid, coin = intent["cloid"], intent["symbol"]
        decision = intent["price"]
        limit = self._bound(decision, is_buy, szd)
        entry = self.store.live_orders(intent=cloid, kinds=("entry",))
        started = entry[0].t if entry else self.wall_ms()
        deadline = started + int(self.ex.entry_timeout_s * 1000)
        if not entry or entry[-1].status in ("never", "rejected"):
            if not self._post(intent, size, is_buy, szd, limit, deadline):
                return 0.0
        left = size
        while True:
            st = self.venue.order(cloid)
            if st is None:              # refused after all: nothing rests
                break
            left = st["sz"]
            if st["status"] != "open":
                self.store.update_order(cloid, _journal_status(st["status"]), self.wall_ms(),
                                        st["oid"])
                break
            if self.wall_ms() >= deadline:
                self._cancel(coin, cloid)
                st = self.venue.order(cloid)
                left = st["sz"] if st and st["status"] != "filled" else 0.0
                break
            bid, ask = self.venue.touch(coin)
            target = bid if is_buy else ask
            better = target > st["px"] if is_buy else target < st["px"]
            within = target <= limit if is_buy else target >= limit
            if better and within:
                self._requote(coin, cloid, st, target, is_buy)
            self.sleep(POLL_S)
        filled = max(0.0, size - left)
        if self.ex.entry_fallback == "ioc":
            rest = floor_size(size - filled, szd)
            if rest > 0 and rest * decision >= MIN_NOTIONAL:
                kind, detail = self._send_order(cloid, coin, "entry_ioc", 0, is_buy, limit, rest,
                                                False, {"limit": {"tif": "Ioc"}})
                if kind == "filled":
                    filled += float(detail["totalSz"])
                elif kind == "error":
                    self._warn("entry IOC fallback not filled", intent, error=detail["text"])
        return filled

    def _post(self, intent, size, is_buy, szd, limit, deadline) -> bool:
        """The post-only entry placed at the touch; False when the exchange refused it."""
        coin, cloid = intent["symbol"], intent["cloid"]
        for _ in range(5):
            bid, ask = self.venue.touch(coin)
            px = bid if is_buy else ask
            if (px > limit) if is_buy else (px < limit):
                self._warn("the touch is beyond max_slippage_bps of the decision: entry not "
                           "placed", intent, touch=px, bound=limit)
                return False
            kind, detail = self._send_order(cloid, coin, "entry", 0, is_buy, px, size, False,
                                            {"limit": {"tif": "Alo"}})
            if kind != "error":
                return True
            if not detail["text"].startswith("Post only order would have immediately matched"):
                self._warn("entry refused by the exchange", intent, error=detail["text"])
                return False
            if self.wall_ms() >= deadline:
                break
            self.sleep(POLL_S)
        self._warn("entry not placed: the book kept moving through the post-only price", intent)
        return False

    def _requote(self, coin: str, cloid: str, st: dict, px: float, is_buy: bool) -> None:
        wire = signing.order_wire(self.venue.asset(coin), is_buy, px, st["sz"], False,
                                  {"limit": {"tif": "Alo"}}, cloid)
        try:
            reply = self.venue.client.send(signing.batch_modify_action([(st["oid"], wire)]))
        except (ExchangeRefused, OutcomeUnknown) as e:
            self.log.info("re-quote not taken", symbol=coin, cloid=cloid, why=e.msg)
            return
        kind, detail = _first_status(reply.get("response", {}).get("data", {}).get("statuses", []))
        if kind in ("resting", "filled"):
            self.store.update_order(cloid, "resting" if kind == "resting" else "filled",
                                    self.wall_ms(), detail.get("oid"), px)
        else:
            self.log.info("re-quote not taken", symbol=coin, cloid=cloid,
                          why=detail.get("text"))

    def _cancel(self, coin: str, cloid: str) -> bool:
        """Cancel one order by cloid; True when the exchange cancelled it."""
        try:
            reply = self.venue.client.send(signing.cancel_by_cloid_action(
                [(self.venue.asset(coin), cloid)]))
        except ExchangeRefused as e:
            self.log.warning("cancel refused", symbol=coin, cloid=cloid, error=e.msg)
            return False
        except OutcomeUnknown:
            st = self.venue.order(cloid)        # a cancel is safe to ask about, never to assume
            return st is not None and st["status"] == "canceled"
        ok = reply["response"]["data"]["statuses"][0] == "success"
        if ok:
            self.store.update_order(cloid, "canceled", self.wall_ms())
        return ok

    # the stop -----------------------------------------------------------------------------------

    def stop_price(self, coin: str, side: str, entry: float) -> float:
        return round_price(exchange_stop_price(side, entry, self.cfg.backtest.exchange_stop_pct),
                           self.venue.szd[coin])

    def place_stop(self, coin: str, side: str, size: float, entry: float, pos_cloid: str,
                   t: int) -> list[dict]:
        """The reduce-only market stop of a position; when it cannot be placed after one retry
        the position is closed at once. Returns the fill records of such a close."""
        trig = self.stop_price(coin, side, entry)
        is_buy = side == "short"
        szd = self.venue.szd[coin]
        limit = round_price(trig * (1 + MARKET_TRIGGER_SLIPPAGE if is_buy else
                                    1 - MARKET_TRIGGER_SLIPPAGE), szd, "down" if is_buy else "up")
        seq0 = len(self.store.live_orders(intent=pos_cloid, kinds=("stop",)))
        error = ""
        for k in range(STOP_TRIES):
            try:
                kind, detail = self._send_order(
                    pos_cloid, coin, "stop", seq0 + k, is_buy, limit, size, True,
                    {"trigger": {"isMarket": True, "triggerPx": trig, "tpsl": "sl"}})
            except (ExchangeRefused, TemporaryFailure) as e:
                kind, detail = "error", {"text": e.msg}
            if kind in ("resting", "waiting"):
                self.log.info("stop placed", symbol=coin, trigger=trig, size=size)
                return []
            if kind == "filled":
                return []           # it fired at once; reconciliation books the close
            error = detail["text"]
        self.log.critical("stop could not be placed: closing the position now", symbol=coin,
                          trigger=trig, error=error)
        close = records.make("intent", symbol=coin, t=t, action="close", side=side,
                             size=size, price=entry, reason="stop_unplaced",
                             cloid=order_cloid(pos_cloid, "unprotected", 0), decided_at=t)
        return self.close(close, t)

    # exits --------------------------------------------------------------------------------------

    def close(self, intent: dict, now: int) -> list[dict]:
        cloid, coin, side = intent["cloid"], intent["symbol"], intent["side"]
        pos = self.store.open_position(coin, "live")
        if pos is None or pos.side != side:
            self._warn("close intent without that position: skipped", intent)
            return []
        orders = self.resolve_sending(cloid, ("exit",))
        self.cancel_stops(pos.cloid, coin)
        is_buy = side == "short"
        szd = self.venue.szd[coin]
        state = self.venue.state()
        funding = 0.0
        for k in range(EXIT_TRIES):
            held = self.venue.positions(state).get(coin)
            if held is None or held.side != side:
                break
            funding = -held.funding_since_open
            px = self._bound(self.venue.mid(coin), is_buy, szd)
            kind, detail = self._send_order(cloid, coin, "exit", len(orders) + k, is_buy, px,
                                            abs(held.szi), True, {"limit": {"tif": "Ioc"}})
            if kind == "error":
                self.log.warning("exit IOC not filled", symbol=coin, cloid=cloid,
                                 error=detail["text"])
            state = self.venue.state()
        held = self.venue.positions(state).get(coin)
        fills = self.fills_of(cloid, ("exit",), pos.t)
        if held is not None and held.side == side:
            # protect what is left and let the tick run again: the next process finds these
            # orders in the journal and sums their fills with its own
            self.log.critical("exit incomplete: the stop is re-placed on what is left",
                              symbol=coin, left=abs(held.szi), tries=EXIT_TRIES)
            self.place_stop(coin, side, abs(held.szi), pos.price, pos.cloid, now)
            raise TemporaryFailure(f"{coin}: exit incomplete, {abs(held.szi)} left after "
                                   f"{EXIT_TRIES} reduce-only IOCs")
        if not fills:
            self._warn("no exit fills: the position was closed by something else; "
                       "reconciliation books it", intent)
            return []
        rec = self._fill_record(intent, fills, "close", pos=pos, funding=funding)
        self.store.record_fill(intent, rec)
        return [rec]

    def cancel_stops(self, pos_cloid: str, coin: str) -> None:
        for o in self.store.live_orders(intent=pos_cloid, kinds=("stop",),
                                        statuses=("resting", "sending")):
            if not self._cancel(coin, o.cloid):
                self.store.update_order(o.cloid, "gone", self.wall_ms())

    # the record ---------------------------------------------------------------------------------

    def _fill_record(self, intent: dict, fills: list[dict], action: str, pos=None,
                     funding: float = 0.0) -> dict:
        s = sum_fills(fills)
        decision = intent["price"]
        is_buy = costs.is_buy(action, intent["side"])
        bps = (s.price - decision) / decision * 10_000 * (1 if is_buy else -1)
        szd = self.venue.szd[intent["symbol"]]
        rec = records.make(
            "fill", symbol=intent["symbol"], t=s.t, side=intent["side"],
            size=round(s.size, szd), price=s.price, fee=s.fee, cloid=intent["cloid"],
            trade_id=f"live-{intent['cloid'][2:]}", mode="live", action=action,
            reason=intent["reason"], mid=decision, slippage=bps / 10_000, taker=s.taker,
            oid=s.oid, oids=s.oids, decision_price=decision, slippage_bps=round(bps, 4))
        if action == "close":
            fees = pos.fee + s.fee
            rec.update(funding=funding, entry_price=pos.price,
                       pnl=costs.realized_pnl(pos.side, rec["size"], pos.price, s.price, fees,
                                              funding))
        if bps > self.ex.warn_slippage_bps:
            self.log.warning("slippage above execution.warn_slippage_bps", symbol=rec["symbol"],
                             cloid=rec["cloid"], slippage_bps=round(bps, 2),
                             warn_slippage_bps=self.ex.warn_slippage_bps)
        return rec

    def _warn(self, msg: str, intent: dict, **kv) -> None:
        self.log.warning(msg, symbol=intent["symbol"], cloid=intent["cloid"], **kv)


def _journal_status(exchange_status: str) -> str:
    """orderStatus's word as the journal keeps it."""
    if exchange_status == "open":
        return "resting"
    if exchange_status in ("filled", "triggered"):
        return "filled"
    if exchange_status.endswith("Rejected"):
        return "rejected"
    return "canceled"


def connect(cfg, store, log) -> LiveTrader:
    """The live trader of the configured account: who signs and on which network is checked
    first (hl.account: a refusal exits 2 before any request), then the exchange's meta."""
    from ..clock import make_clock
    from ..hl.account import live_account
    from ..hl.client import InfoClient
    from ..hl.exchange import ExchangeClient, NonceSource

    account = live_account(cfg)
    info = InfoClient.from_config(cfg.exchange, log=log)
    # nonces follow the exchange's clock (hl-sim's when exchange.clock is sim)
    nonces = NonceSource(store, account.signer, make_clock(cfg.exchange).now_ms)
    client = ExchangeClient(cfg.exchange.api_url, account, nonces, info,
                            timeout_s=cfg.exchange.timeout_s, log=log)
    return LiveTrader(store, Venue(info, client, account), cfg, log)
