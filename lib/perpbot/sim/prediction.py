"""A local stand-in for Polymarket's Gamma API and Kalshi's market endpoint, served by hl-sim.

A scenario gives each market a timeline of points [t, value]: t in minutes after the simulator's
start (or absolute epoch ms when larger than 1e9), value a Yes probability or, for malformed-
response tests, a whole response body served as it is. The value in force is the last point at
or before the simulator's clock, so regime changes play out as the clock runs.

    {"polymarket": [{"slug": "...", "conditionId": "0x...", "points": [[0, 0.1], [30, 0.5]]}],
     "kalshi": [{"ticker": "...", "points": [[0, 0.5]], "status": "active"}]}

Routes: GET /gamma/markets?slug=X (or condition_ids=X), GET /kalshi/trade-api/v2/markets/{ticker}.
"""

from __future__ import annotations

import bisect
import zlib
from pathlib import Path

import orjson
from aiohttp import web

from ..timeutil import MINUTE_MS

# The demo's scenario: war risk climbs through HIGH_RISK into CRISIS and falls back; then the
# rate market prices a cut (DOVISH) and relaxes.
DEMO = {
    "polymarket": [{"slug": "demo-war-risk", "conditionId": "0x" + "d" * 64,
                    "points": [[0, 0.10], [30, 0.45], [60, 0.75], [90, 0.20]]}],
    "kalshi": [{"ticker": "DEMO-FED-CUT", "points": [[0, 0.50], [100, 0.90], [140, 0.55]]}],
}


class Timeline:
    def __init__(self, points, start_ms: int):
        pts = sorted(([t * MINUTE_MS + start_ms if t < 1e9 else int(t), v] for t, v in points),
                     key=lambda p: p[0])
        self.times = [p[0] for p in pts]
        self.values = [p[1] for p in pts]

    def at(self, now: int):
        i = bisect.bisect_right(self.times, now) - 1
        return None if i < 0 else self.values[i]


class FakePredictionMarkets:
    def __init__(self, scenario: dict, start_ms: int):
        self.poly = {}
        for m in scenario.get("polymarket", []):
            tl = (m, Timeline(m["points"], start_ms))
            self.poly[m["slug"]] = tl
            if m.get("conditionId"):
                self.poly[m["conditionId"]] = tl
        self.kalshi = {m["ticker"]: (m, Timeline(m["points"], start_ms))
                       for m in scenario.get("kalshi", [])}

    @classmethod
    def from_file(cls, path: str | Path, start_ms: int) -> "FakePredictionMarkets":
        return cls(orjson.loads(Path(path).read_bytes()), start_ms)

    def polymarket(self, key: str, now: int):
        if key not in self.poly:
            return []
        m, tl = self.poly[key]
        v = tl.at(now)
        if v is None:
            return []
        if not isinstance(v, (int, float)):
            return v
        yes = round(float(v), 4)
        return [{"id": str(zlib.crc32(m["slug"].encode()) % 10**6), "question": m.get("question", m["slug"]),
                 "slug": m["slug"], "conditionId": m.get("conditionId", ""),
                 "outcomes": '["Yes", "No"]',
                 "outcomePrices": orjson.dumps([repr(yes), repr(round(1 - yes, 4))]).decode(),
                 "active": m.get("active", True), "closed": m.get("closed", False)}]

    def kalshi_market(self, ticker: str, now: int):
        if ticker not in self.kalshi:
            return None
        m, tl = self.kalshi[ticker]
        v = tl.at(now)
        if v is None:
            return None
        if not isinstance(v, (int, float)):
            return v
        bid, ask = max(0.0, float(v) - 0.005), min(1.0, float(v) + 0.005)
        return {"market": {"ticker": ticker, "status": m.get("status", "active"),
                           "yes_bid_dollars": f"{bid:.4f}", "yes_ask_dollars": f"{ask:.4f}",
                           "last_price_dollars": f"{float(v):.4f}"}}


def add_routes(app: web.Application, fake: FakePredictionMarkets, clock) -> None:
    async def gamma_markets(request: web.Request) -> web.Response:
        key = request.query.get("slug") or request.query.get("condition_ids") or ""
        return web.json_response(fake.polymarket(key, clock.now_ms()), dumps=lambda x: orjson.dumps(x).decode())

    async def kalshi_market(request: web.Request) -> web.Response:
        body = fake.kalshi_market(request.match_info["ticker"], clock.now_ms())
        if body is None:
            return web.json_response({"error": {"code": "not_found", "message": "not found"}},
                                     status=404)
        return web.json_response(body, dumps=lambda x: orjson.dumps(x).decode())

    app.router.add_get("/gamma/markets", gamma_markets)
    app.router.add_get("/kalshi/trade-api/v2/markets/{ticker}", kalshi_market)
