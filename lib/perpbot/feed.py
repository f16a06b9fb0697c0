"""The WebSocket mid-price feed: allMids from the exchange's /ws into the store (bot_state
"mids"), where execute reads it. Reconnects when the socket goes quiet or drops, with backoff;
resubscribes; and catches up over REST (allMids) after each reconnect."""

from __future__ import annotations

import random
import threading
import time

import orjson
import websocket

from .hl import parse

STALE_S = 10.0          # no message for this long: the socket is dead, reconnect
PING_S = 30.0           # the exchange drops a socket that sends nothing for 60 s
BACKOFF_MAX_S = 5.0     # reconnect attempts while the exchange is down: every few seconds


class MidFeed:
    def __init__(self, ws_url: str, store_factory, client, log=None):
        self.ws_url = ws_url
        self.store_factory = store_factory
        self.client = client
        self.log = log
        self.stop = threading.Event()
        self.mids: dict[str, float] = {}
        self.last_msg = 0.0             # wall time of the last message
        self.connected = False
        self.reconnects = 0
        self.thread = threading.Thread(target=self._run, name="mid-feed", daemon=True)
        self._store = None

    def start(self) -> "MidFeed":
        self.thread.start()
        return self

    def age_s(self) -> float | None:
        return None if not self.last_msg else time.time() - self.last_msg

    def _save(self, mids: dict) -> None:
        """Every message goes to the store at once: a throttled write would leave an older
        price there, stamped as fresh, until the next message came."""
        self.mids.update(mids)
        now = time.time()
        if self._store is None:
            self._store = self.store_factory()
        self._store.set_mids(self.mids, now)

    def _catch_up(self) -> None:
        try:
            self._save(parse.mids(self.client.all_mids()))
        except Exception as e:          # noqa: BLE001 - the feed carries on; execute falls back
            if self.log:
                self.log.warning("allMids catch-up failed", error=str(e))

    def _run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                ws = websocket.create_connection(self.ws_url, timeout=2)
            except Exception as e:      # noqa: BLE001 - retried with backoff
                if self.log:            # the loop reports an outage once; this is its detail
                    self.log.debug("feed connect failed", error=str(e), retry_s=round(backoff, 2))
                self.stop.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = 0.5
            self.connected = True
            ws.send(orjson.dumps({"method": "subscribe", "subscription": {"type": "allMids"}}))
            self._catch_up()
            self.last_msg = last_ping = time.time()
            try:
                while not self.stop.is_set():
                    if time.time() - self.last_msg > STALE_S:
                        raise TimeoutError("no message for %.0f s" % STALE_S)
                    if time.time() - last_ping > PING_S:
                        ws.send('{"method":"ping"}')
                        last_ping = time.time()
                    try:
                        msg = ws.recv()
                    except websocket.WebSocketTimeoutException:
                        continue
                    self.last_msg = time.time()
                    if isinstance(msg, bytes):      # the exchange sends text; take either
                        msg = msg.decode(errors="replace")
                    if not msg or msg[0] != "{":
                        continue            # "Websocket connection established."
                    data = orjson.loads(msg)
                    if data.get("channel") == "allMids":
                        self._save({k: float(v) for k, v in data["data"]["mids"].items()})
            except Exception as e:      # noqa: BLE001 - any failure: reconnect
                if self.log and not self.stop.is_set():
                    self.log.warning("feed lost, reconnecting", error=str(e))
                self.reconnects += 1
            finally:
                self.connected = False
                try:
                    ws.close()
                except Exception:       # noqa: BLE001
                    pass
