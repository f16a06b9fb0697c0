"""Mid prices for paper fills: the trade loop's WebSocket cache in the store when it is fresh,
else the exchange's allMids over REST."""

from __future__ import annotations

import time

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
        received_s, mids = self.store.mids()
        return {} if self.wall() - received_s > FRESH_S else mids

    def __call__(self, symbol: str) -> float:
        mid = self.cached().get(symbol)
        if mid is not None:
            return float(mid)
        if self._rest is None:
            self._rest = parse.mids(self.client.all_mids())
        if symbol not in self._rest:
            raise TemporaryFailure(f"allMids has no mid for {symbol}")
        return self._rest[symbol]
