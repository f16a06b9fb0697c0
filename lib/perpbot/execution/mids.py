"""Mid prices for paper fills: the trade loop's WebSocket cache in the store when it is fresh,
else the exchange's allMids over REST."""

from __future__ import annotations

import time

import orjson

from ..errors import TemporaryFailure
from ..hl import parse

FRESH_S = 3.0           # wall seconds a cached mid stays usable


class Mids:
    def __init__(self, store, client, log=None, wall=time.time):
        self.store = store
        self.client = client
        self.log = log
        self.wall = wall
        self._rest: dict | None = None

    def cached(self) -> dict[str, float]:
        raw = self.store.get_state("mids")
        if not raw:
            return {}
        snap = orjson.loads(raw)
        if self.wall() - snap.get("received_s", 0) > FRESH_S:
            return {}
        return snap.get("mids", {})

    def __call__(self, symbol: str) -> float:
        mid = self.cached().get(symbol)
        if mid is not None:
            return float(mid)
        if self._rest is None:
            self._rest = parse.mids(self.client.all_mids())
        if symbol not in self._rest:
            raise TemporaryFailure(f"allMids has no mid for {symbol}")
        return self._rest[symbol]
