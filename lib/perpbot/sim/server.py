"""hl-sim's HTTP and WebSocket server (aiohttp): POST /info, POST /exchange, GET /ws, and the
simulator's own GET /sim/time and POST /sim/fault.

Info request types are a table of handlers (INFO_HANDLERS), so new ones slot in; /exchange
actions will be a second table, verified by signature, in the live-execution issue. Per-IP weight
is budgeted as the exchange does (shared perpbot.hl.weights) and answered with 429 past it.
Faults queued through /sim/fault (a status code, a delay, a dropped connection) are served to the
next matching requests, for the reliability tests.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field

import orjson
from aiohttp import WSMsgType, web

from ..errors import UsageError
from ..hl import weights
from ..timeutil import INTERVAL_MS
from . import signed
from .market import Market
from .orders import Book

WS_IDLE_CLOSE_S = 60.0          # the exchange drops a socket that has sent nothing for 60 s


class Clock:
    """Simulated time: starts at `start_ms` and runs `speed` times faster than the wall."""

    def __init__(self, start_ms: int, speed: float = 1.0, mono=time.monotonic):
        self.start_ms = start_ms
        self.speed = speed
        self.mono = mono
        self.m0 = mono()

    def now_ms(self) -> int:
        return self.start_ms + int((self.mono() - self.m0) * 1000 * self.speed)

    def set(self, time_ms: int | None = None, speed: float | None = None) -> None:
        """Move the clock to `time_ms` and/or run it at `speed` from now on (0 stops it)."""
        now = self.now_ms()
        self.start_ms = now if time_ms is None else int(time_ms)
        self.m0 = self.mono()
        if speed is not None:
            self.speed = float(speed)


# --fault NAME:RATE: each /exchange request (or each order, for the last two) meets the fault
# with probability RATE, drawn from a generator seeded by --seed
RANDOM_FAULTS = {
    "drop": "the action is carried out, then the connection is closed unanswered",
    "5xx": "the action is carried out, then HTTP 502",
    "429": "HTTP 429 before anything is done",
    "slow": "the answer waits 2 s",
    "margin": "an order is refused with Insufficient margin to place order",
    "tick": "an order is refused with Price must be divisible by tick size",
}


@dataclass
class Fault:
    path: str                  # "/info", "/exchange" or "*"
    count: int                 # how many requests it hits
    status: int = 0            # answer with this HTTP status (0: do not)
    delay_s: float = 0.0       # wait this long first
    drop: bool = False         # close the connection without an answer
    after: bool = False        # with drop or status: do the request first (accept, then lose
                               # the answer: the outcome a client cannot know)


@dataclass
class Account:
    """A user's perp account: its USDC and leverage settings (orders, positions and fills are
    the order book's, sim/orders.py)."""

    balance: float
    leverage: dict = field(default_factory=dict)    # asset -> (leverage, is_cross)


class SimExchange:
    def __init__(self, markets: dict[str, Market], clock: Clock,
                 weight_per_min: float = weights.PER_IP_WEIGHT_PER_MIN, balance: float = 10_000.0):
        self.markets = markets
        self.clock = clock
        self.weight_per_min = weight_per_min
        self.budgets: dict[str, weights.WeightBudget] = {}
        self.faults: list[Fault] = []
        self.accounts: dict[str, Account] = {}
        self.default_balance = balance
        self.stats = {"info": 0, "rejected_429": 0}
        self.down_until = 0.0           # monotonic s: an outage drops every connection until then
        self.clock_set = asyncio.Event()    # set (and replaced) whenever POST /sim/clock moves it
        self.is_mainnet = False             # whose signatures /exchange accepts (--network)
        self.registered: set[str] = set()   # accounts that may act (--account ADDRESS=USDC)
        self.agents: dict[str, str] = {}    # approved agent -> its master
        self.nonces = signed.NonceBook()
        self.book = Book()
        self.random_faults: dict[str, float] = {}       # --fault NAME:RATE
        self.resting_fill = 1.0         # --resting-fill: the part of a resting order one look fills
        self.rng = random.Random(0)

    def roll(self, name: str) -> bool:
        rate = self.random_faults.get(name, 0.0)
        if rate > 0 and self.rng.random() < rate:
            self.stats[f"fault_{name}"] = self.stats.get(f"fault_{name}", 0) + 1
            return True
        return False

    def random_fault(self, path: str) -> Fault | None:
        """A fault drawn for this /exchange request (none for other paths)."""
        if path != "/exchange" or not self.random_faults:
            return None
        if self.roll("429"):
            return Fault(path, 1, status=429)
        if self.roll("drop"):
            return Fault(path, 1, drop=True, after=True)
        if self.roll("5xx"):
            return Fault(path, 1, status=502, after=True)
        if self.roll("slow"):
            return Fault(path, 1, delay_s=2.0)
        return None

    def register(self, address: str, usdc: float) -> None:
        self.registered.add(address.lower())
        self.accounts[address.lower()] = Account(usdc)

    # accounting --------------------------------------------------------------------------------

    def budget(self, ip: str) -> weights.WeightBudget:
        if ip not in self.budgets:
            self.budgets[ip] = weights.WeightBudget(self.weight_per_min)
        return self.budgets[ip]

    def account(self, user: str) -> Account:
        return self.accounts.setdefault(user.lower(), Account(self.default_balance))

    def market(self, coin) -> Market:
        m = self.markets.get(coin)
        if m is None:
            raise web.HTTPUnprocessableEntity(text=f"Unknown coin {coin!r}")
        return m

    def take_fault(self, path: str) -> Fault | None:
        for f in self.faults:
            if f.count > 0 and f.path in ("*", path):
                f.count -= 1
                if f.count == 0:
                    self.faults.remove(f)
                return f
        return None

    def mids(self, now: int) -> dict[str, str]:
        out = {}
        for coin, m in self.markets.items():
            p = m.price_at(now)
            if p is not None:
                out[coin] = repr(float(_round_px(p, m.sz_decimals(now))))
        return out

    def universe(self, now: int) -> list[dict]:
        return [{"name": c, "szDecimals": m.sz_decimals(now), "maxLeverage": 50}
                for c, m in self.markets.items()]


def _round_px(px: float, sz_decimals: int) -> float:
    """5 significant figures and at most 6 - szDecimals decimals (integers always allowed)."""
    if px <= 0:
        return px
    if px >= 100_000:
        return float(round(px))
    return round(float(f"{px:.5g}"), 6 - sz_decimals)


# /info handlers: (exchange, body, now) -> JSON-able -----------------------------------------------

def _require(body: dict, *keys):
    for k in keys:
        if k not in body:
            raise web.HTTPUnprocessableEntity(
                text=f"Failed to deserialize the JSON body into the target type: missing field `{k}`")
    return [body[k] for k in keys]


def info_meta(ex: SimExchange, body, now):
    return {"universe": ex.universe(now)}


def info_meta_and_ctxs(ex: SimExchange, body, now):
    ctxs = []
    for m in ex.markets.values():
        px = m.price_at(now)
        day_ago = m.price_at(now - 86_400_000)
        ctxs.append({"dayNtlVlm": "0.0", "funding": repr(m.funding_at(now)),
                     "impactPxs": None if px is None else [repr(px), repr(px)],
                     "markPx": repr(px or 0.0), "midPx": None if px is None else repr(px),
                     "openInterest": "0.0", "oraclePx": repr(px or 0.0), "premium": "0.0",
                     "prevDayPx": repr(day_ago or px or 0.0), "dayBaseVlm": "0.0"})
    return [{"universe": ex.universe(now)}, ctxs]


def info_all_mids(ex: SimExchange, body, now):
    return ex.mids(now)


def info_candle_snapshot(ex: SimExchange, body, now):
    (req,) = _require(body, "req")
    coin, interval, start = _require(req, "coin", "interval", "startTime")
    if interval not in INTERVAL_MS:
        raise web.HTTPUnprocessableEntity(text=f"Unknown interval {interval!r}")
    end = req.get("endTime") or now
    return ex.market(coin).candles(interval, int(start), int(end), now, weights.CANDLE_CAP)


def info_funding_history(ex: SimExchange, body, now):
    coin, start = _require(body, "coin", "startTime")
    end = body.get("endTime") or now
    return ex.market(coin).funding_history(int(start), int(end), now, weights.FUNDING_CAP)


def info_l2_book(ex: SimExchange, body, now):
    (coin,) = _require(body, "coin")
    m = ex.market(coin)
    px = m.price_at(now)
    if px is None:
        return {"coin": coin, "time": now, "levels": [[], []]}
    tick = max(px * 1e-4, 10.0 ** -(6 - m.sz_decimals(now)))
    lot = 10.0 ** -m.sz_decimals(now)
    bids, asks = [], []
    for k in range(1, 21):
        sz = repr(round(max(lot, 1000.0 / px * (1 + k % 3)), m.sz_decimals(now)))
        bids.append({"px": repr(_round_px(px - k * tick, m.sz_decimals(now))), "sz": sz, "n": 1 + k % 4})
        asks.append({"px": repr(_round_px(px + k * tick, m.sz_decimals(now))), "sz": sz, "n": 1 + k % 4})
    return {"coin": coin, "time": now, "levels": [bids, asks]}


def info_clearinghouse_state(ex: SimExchange, body, now):
    (user,) = _require(body, "user")
    user = user.lower()
    ex.book.sweep(ex, now)
    mids = ex.mids(now)
    acct = ex.account(user)
    positions, used, ntl = [], 0.0, 0.0
    for (a, coin), p in ex.book.positions.items():
        if a != user or not p.szi:
            continue
        lev = acct.leverage.get(list(ex.markets).index(coin), (20, True))[0]
        value = abs(p.szi) * float(mids[coin])
        used, ntl = used + value / lev, ntl + value
        positions.append({"type": "oneWay", "position": {
            "coin": coin, "szi": repr(p.szi), "entryPx": repr(p.entry),
            "positionValue": repr(round(value, 6)),
            "unrealizedPnl": repr(round((float(mids[coin]) - p.entry) * p.szi, 6)),
            "leverage": {"type": "cross", "value": lev}, "liquidationPx": None,
            "marginUsed": repr(round(value / lev, 6)), "returnOnEquity": "0.0",
            "maxLeverage": 50, "cumFunding": {"allTime": repr(round(p.funding, 6)),
                                              "sinceOpen": repr(round(p.funding, 6)),
                                              "sinceChange": repr(round(p.funding, 6))}}})
    value = repr(round(ex.book.account_value(ex, user, now), 6))
    summary = {"accountValue": value, "totalMarginUsed": repr(round(used, 6)),
               "totalNtlPos": repr(round(ntl, 6)), "totalRawUsd": value}
    return {"assetPositions": positions, "crossMaintenanceMarginUsed": "0.0",
            "crossMarginSummary": summary, "marginSummary": dict(summary), "time": now,
            "withdrawable": value}


def _order_shape(o) -> dict:
    out = {"coin": o.coin, "side": "B" if o.is_buy else "A", "limitPx": repr(o.px),
           "sz": repr(o.sz), "oid": o.oid, "timestamp": o.timestamp}
    if o.cloid:
        out["cloid"] = o.cloid
    return out


def _frontend_shape(o) -> dict:
    trig = o.trigger
    return {**_order_shape(o), "children": [], "isPositionTpsl": False,
            "isTrigger": trig is not None, "orderType": "Limit" if trig is None else
            ("Stop Market" if trig["tpsl"] == "sl" else "Take Profit Market"),
            "origSz": repr(o.orig_sz), "reduceOnly": o.reduce_only, "tif": o.tif,
            "triggerCondition": "N/A" if trig is None else
            f"Price {'below' if (trig['tpsl'] == 'sl') != o.is_buy else 'above'} "
            f"{trig['triggerPx']!r}",
            "triggerPx": "0.0" if trig is None else repr(trig["triggerPx"])}


def info_open_orders(ex: SimExchange, body, now):
    (user,) = _require(body, "user")
    ex.book.sweep(ex, now)
    return [_order_shape(o) for o in ex.book.open_orders(user.lower())]


def info_frontend_open_orders(ex: SimExchange, body, now):
    (user,) = _require(body, "user")
    ex.book.sweep(ex, now)
    return [_frontend_shape(o) for o in ex.book.open_orders(user.lower())]


def info_order_status(ex: SimExchange, body, now):
    user, oid = _require(body, "user", "oid")
    ex.book.sweep(ex, now)
    o = ex.book.find(user.lower(), oid)
    if o is None:
        return {"status": "unknownOid"}
    return {"status": "order", "order": {"order": _frontend_shape(o), "status": o.status,
                                         "statusTimestamp": o.status_t or o.timestamp}}


def info_user_fills(ex: SimExchange, body, now):
    (user,) = _require(body, "user")
    ex.book.sweep(ex, now)
    return list(reversed(ex.book.fills.get(user.lower(), [])[-2000:]))


def info_user_fills_by_time(ex: SimExchange, body, now):
    user, start = _require(body, "user", "startTime")
    end = body.get("endTime") or now
    ex.book.sweep(ex, now)
    return [f for f in ex.book.fills.get(user.lower(), []) if start <= f["time"] <= end][:2000]


def info_user_funding(ex: SimExchange, body, now):
    user, start = _require(body, "user", "startTime")
    end = body.get("endTime") or now
    ex.book.sweep(ex, now)
    return [{"time": f["time"], "hash": "0x" + "0" * 64,
             "delta": {"type": "funding", "coin": f["coin"], "usdc": f["usdc"], "szi": f["szi"],
                       "fundingRate": f["fundingRate"]}}
            for f in ex.book.funding.get(user.lower(), []) if start <= f["time"] <= end][:500]


INFO_HANDLERS = {
    "meta": info_meta,
    "metaAndAssetCtxs": info_meta_and_ctxs,
    "allMids": info_all_mids,
    "candleSnapshot": info_candle_snapshot,
    "fundingHistory": info_funding_history,
    "l2Book": info_l2_book,
    "clearinghouseState": info_clearinghouse_state,
    "openOrders": info_open_orders,
    "frontendOpenOrders": info_frontend_open_orders,
    "orderStatus": info_order_status,
    "userFills": info_user_fills,
    "userFillsByTime": info_user_fills_by_time,
    "userFunding": info_user_funding,
}


# HTTP routes ------------------------------------------------------------------------------------

def _json(data, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


@web.middleware
async def faults_middleware(request: web.Request, handler):
    ex: SimExchange = request.app["exchange"]
    if time.monotonic() < ex.down_until:
        request.transport.close()           # down: every request, the clock's included, dropped
        raise web.HTTPServiceUnavailable()  # never reaches the closed socket
    if not request.path.startswith("/sim/"):
        path = "/" + request.path.split("/")[1]
        fault = ex.take_fault(path) or ex.random_fault(path)
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.after:
                await handler(request)
            if fault.drop:
                request.transport.close()
                raise web.HTTPInternalServerError()   # never reaches the closed socket
            if fault.status:
                return web.Response(status=fault.status, text=f"hl-sim fault {fault.status}")
    return await handler(request)


async def post_info(request: web.Request) -> web.Response:
    ex: SimExchange = request.app["exchange"]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return web.Response(status=422, text="Failed to deserialize the JSON body into the target type")
    rtype = body.get("type") if isinstance(body, dict) else None
    handler = INFO_HANDLERS.get(rtype)
    if handler is None:
        return web.Response(status=422, text=f"Failed to deserialize the JSON body into the target "
                                             f"type: unknown variant `{rtype}`")
    budget = ex.budget(request.remote or "?")
    if budget.take(weights.info_weight(rtype)) > 0:
        ex.stats["rejected_429"] += 1
        return web.Response(status=429, text="null")
    ex.stats["info"] += 1
    data = handler(ex, body, ex.clock.now_ms())
    budget.charge(weights.extra_weight(rtype, len(data) if isinstance(data, list) else 0))
    return _json(data)


def exchange_default(ex: "SimExchange", account: str, action: dict) -> dict:
    return {"status": "ok", "response": {"type": "default"}}


def exchange_update_leverage(ex: "SimExchange", account: str, action: dict) -> dict:
    ex.account(account).leverage[action["asset"]] = (action["leverage"], action["isCross"])
    return {"status": "ok", "response": {"type": "default"}}


def exchange_order(ex: "SimExchange", account: str, action: dict) -> dict:
    now = ex.clock.now_ms()
    ex.book.sweep(ex, now)
    statuses = [{"error": "Insufficient margin to place order."} if ex.roll("margin") else
                {"error": "Price must be divisible by tick size."} if ex.roll("tick") else
                ex.book.place(ex, account, wire, now) for wire in action["orders"]]
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def exchange_cancel(ex: "SimExchange", account: str, action: dict) -> dict:
    now = ex.clock.now_ms()
    ex.book.sweep(ex, now)
    if action["type"] == "cancel":
        statuses = [ex.book.cancel(account, oid=c["o"], now=now) for c in action["cancels"]]
    else:
        statuses = [ex.book.cancel(account, cloid=c["cloid"], now=now) for c in action["cancels"]]
    return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}


def exchange_batch_modify(ex: "SimExchange", account: str, action: dict) -> dict:
    now = ex.clock.now_ms()
    ex.book.sweep(ex, now)
    statuses = [ex.book.modify(ex, account, m["oid"], m["order"], now)
                for m in action["modifies"]]
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def exchange_approve_agent(ex: "SimExchange", account: str, action: dict) -> dict:
    ex.agents[action["agentAddress"].lower()] = account
    return {"status": "ok", "response": {"type": "default"}}


# action type -> handler(exchange, acting account, action)
EXCHANGE_ACTIONS: dict = {"noop": exchange_default, "scheduleCancel": exchange_default,
                          "updateLeverage": exchange_update_leverage, "order": exchange_order,
                          "cancel": exchange_cancel, "cancelByCloid": exchange_cancel,
                          "batchModify": exchange_batch_modify,
                          "approveAgent": exchange_approve_agent}


async def post_exchange(request: web.Request) -> web.Response:
    """Signed actions: verified (signature, signer, nonce, expiry) before any runs."""
    ex: SimExchange = request.app["exchange"]
    try:
        body = orjson.loads(await request.read())
        atype = body["action"]["type"]
        body["nonce"], body["signature"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.Response(status=422, text="Failed to deserialize the JSON body into the target type")
    account, error = signed.authenticate(body, ex.clock.now_ms(), ex.is_mainnet, ex.registered,
                                         ex.agents, ex.nonces)
    if error:
        return _json({"status": "err", "response": error})
    handler = EXCHANGE_ACTIONS.get(atype)
    if handler is None:
        return _json({"status": "err", "response": f"hl-sim does not support action {atype!r} yet"})
    return _json(handler(ex, account, body["action"]))


async def get_time(request: web.Request) -> web.Response:
    ex: SimExchange = request.app["exchange"]
    return _json({"time": ex.clock.now_ms(), "speed": ex.clock.speed})


async def post_fault(request: web.Request) -> web.Response:
    """Queue a fault: {"path": "/info", "count": 3, "status": 500, "delay_s": 0, "drop": false,
    "after": false}; with "after" the request is carried out before the answer is lost."""
    ex: SimExchange = request.app["exchange"]
    spec = orjson.loads(await request.read())
    ex.faults.append(Fault(path=spec.get("path", "*"), count=int(spec.get("count", 1)),
                           status=int(spec.get("status", 0)), delay_s=float(spec.get("delay_s", 0)),
                           drop=bool(spec.get("drop", False)),
                           after=bool(spec.get("after", False))))
    return _json({"queued": len(ex.faults)})


async def post_clock(request: web.Request) -> web.Response:
    """Set the clock: {"time": ms, "speed": x}, either optional; speed 0 stops it (a stepped
    clock, for tests that must see the same prices at the same times run after run)."""
    ex: SimExchange = request.app["exchange"]
    spec = orjson.loads(await request.read())
    ex.clock.set(spec.get("time"), spec.get("speed"))
    ex.clock_set.set()                  # every push loop sends the new prices now
    ex.clock_set = asyncio.Event()
    return _json({"time": ex.clock.now_ms(), "speed": ex.clock.speed})


async def post_outage(request: web.Request) -> web.Response:
    """Go down for {"seconds": s} of wall time: every WebSocket is closed and every request
    (GET /sim/time included) is dropped unanswered until then, as a stopped exchange would be.
    The simulated clock runs on meanwhile."""
    ex: SimExchange = request.app["exchange"]
    seconds = float(orjson.loads(await request.read()).get("seconds", 10))
    ex.down_until = time.monotonic() + seconds
    for ws in list(request.app["sockets"]):
        await ws.close(message=b"hl-sim outage")
    return _json({"down_s": seconds})


async def post_drop_ws(request: web.Request) -> web.Response:
    """Close every WebSocket connection, as the exchange does now and then without warning."""
    sockets = list(request.app["sockets"])
    for ws in sockets:
        await ws.close(message=b"dropped by hl-sim")
    return _json({"dropped": len(sockets)})


async def get_stats(request: web.Request) -> web.Response:
    ex: SimExchange = request.app["exchange"]
    return _json({**ex.stats, "orders": len(ex.book.orders),
                  "duplicate_cloids": ex.book.duplicates()})


# WebSocket --------------------------------------------------------------------------------------

async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    ex: SimExchange = request.app["exchange"]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    request.app["sockets"].add(ws)
    await ws.send_str("Websocket connection established.")
    subs: dict[str, dict] = {}
    state = {"last_rx": time.monotonic()}
    pusher = asyncio.create_task(_push_loop(ex, ws, subs, state, request.app["push_interval_s"]))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            state["last_rx"] = time.monotonic()
            try:
                req = orjson.loads(msg.data)
                method = req.get("method")
            except (orjson.JSONDecodeError, AttributeError):
                await ws.send_str(orjson.dumps({"channel": "error", "data": f"Invalid message: {msg.data[:80]}"}).decode())
                continue
            if method == "ping":
                await ws.send_str('{"channel":"pong"}')
            elif method in ("subscribe", "unsubscribe"):
                sub = req.get("subscription") or {}
                key = _sub_key(sub)
                if key is None or (sub.get("type") == "candle" and sub.get("coin") not in ex.markets):
                    await ws.send_str(orjson.dumps({"channel": "error", "data": f"Invalid subscription {orjson.dumps(sub).decode()}"}).decode())
                    continue
                if method == "subscribe":
                    if key in subs:
                        await ws.send_str(orjson.dumps({"channel": "error", "data": "Already subscribed"}).decode())
                        continue
                    subs[key] = {"sub": sub, "last": None}
                else:
                    subs.pop(key, None)
                await ws.send_str(orjson.dumps({"channel": "subscriptionResponse",
                                                "data": {"method": method, "subscription": sub}}).decode())
            else:
                await ws.send_str(orjson.dumps({"channel": "error", "data": f"Unknown method {method!r}"}).decode())
    finally:
        pusher.cancel()
        request.app["sockets"].discard(ws)
    return ws


def _sub_key(sub: dict) -> str | None:
    if sub.get("type") == "allMids":
        return "allMids"
    if sub.get("type") == "candle" and sub.get("interval") in INTERVAL_MS and sub.get("coin"):
        return f"candle:{sub['coin']}:{sub['interval']}"
    return None


async def _push_loop(ex: SimExchange, ws, subs: dict, state: dict, interval_s: float):
    try:
        while not ws.closed:
            if time.monotonic() - state["last_rx"] > WS_IDLE_CLOSE_S:
                await ws.close(message=b"idle")
                return
            now = ex.clock.now_ms()
            for s in list(subs.values()):
                sub = s["sub"]
                if sub["type"] == "allMids":
                    mids = ex.mids(now)
                    if mids != s["last"]:
                        s["last"] = mids
                        await ws.send_str(orjson.dumps({"channel": "allMids", "data": {"mids": mids}}).decode())
                else:
                    m = ex.markets[sub["coin"]]
                    iv = INTERVAL_MS[sub["interval"]]
                    # The previous candle in its final form (if it closed since the last push),
                    # then the one forming now.
                    recent = m.candles(sub["interval"], now - iv, now, now, 2)
                    for c in recent:
                        if s["last"] is None or c["t"] > s["last"]["t"] or (
                                c["t"] == s["last"]["t"] and c != s["last"]):
                            s["last"] = c
                            await ws.send_str(orjson.dumps({"channel": "candle", "data": c}).decode())
            try:        # the next push at the interval, or at once when the clock is set
                await asyncio.wait_for(ex.clock_set.wait(), interval_s)
            except asyncio.TimeoutError:
                pass
    except (ConnectionResetError, asyncio.CancelledError):
        return


def make_app(exchange: SimExchange, push_interval_s: float = 0.2,
             prediction=None) -> web.Application:
    app = web.Application(middlewares=[faults_middleware], client_max_size=1 << 20)
    if prediction is not None:
        from .prediction import add_routes
        add_routes(app, prediction, exchange.clock)
    app["exchange"] = exchange
    app["push_interval_s"] = push_interval_s
    app["sockets"] = set()
    app.router.add_post("/info", post_info)
    app.router.add_post("/exchange", post_exchange)
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/sim/time", get_time)
    app.router.add_post("/sim/fault", post_fault)
    app.router.add_get("/sim/stats", get_stats)
    app.router.add_post("/sim/drop-ws", post_drop_ws)
    app.router.add_post("/sim/clock", post_clock)
    app.router.add_post("/sim/outage", post_outage)
    return app


async def serve(exchange: SimExchange, host: str, port: int, on_ready, prediction=None) -> None:
    runner = web.AppRunner(make_app(exchange, prediction=prediction), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise UsageError(f"--port {port}: {host}:{port} is already in use; choose another, "
                         f"or --port 0 for a free one") from None
    sock = site._server.sockets[0]
    on_ready(f"http://{host}:{sock.getsockname()[1]}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()

