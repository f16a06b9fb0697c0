"""POST /exchange: signed actions, and orders never sent twice.

Nonces are ms timestamps, strictly increasing per signer across processes and restarts: the
last one used is kept in the store (`NonceSource`). A request whose outcome is unknown (a
timeout, a dropped connection, a 5xx after sending) is never simply sent again: for orders the
client asks the exchange by cloid (orderStatus) and takes what it says; only an order the
exchange has never heard of is sent once more, under a new nonce. A 429 backs off with the
shared retry policy (nothing was done). `status: ok` is not success until every entry of
`statuses` is read: the caller gets them all.
"""

from __future__ import annotations

import threading

import orjson
import requests

from ..errors import PerpbotError, TemporaryFailure
from .. import retry
from ..retry import Retryable, retry_after_s
from . import signing


class ExchangeRefused(PerpbotError):
    """The exchange answered {"status": "err"} (or 4xx): the action was not done."""


class OutcomeUnknown(TemporaryFailure):
    """The request may or may not have been carried out."""


class NonceSource:
    """ms-timestamp nonces, strictly increasing, the last one kept in the store's bot_state (so a
    new process never reuses one)."""

    def __init__(self, store, signer: str, clock_ms):
        self.store, self.key, self.clock_ms = store, f"nonce:{signer.lower()}", clock_ms
        self.lock = threading.Lock()

    def next(self) -> int:
        with self.lock:
            last = int(self.store.get_state(self.key) or 0)
            nonce = max(self.clock_ms(), last + 1)
            self.store.set_state(self.key, str(nonce), nonce)
            return nonce


class ExchangeClient:
    def __init__(self, base_url: str, account, nonces: NonceSource, info, *,
                 timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.5,
                 backoff_max_s: float = 10.0, vault_address: str | None = None, log=None,
                 session=None):
        self.url = base_url.rstrip("/") + "/exchange"
        self.account, self.nonces, self.info = account, nonces, info
        self.timeout_s, self.retries = timeout_s, retries
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.vault = vault_address
        self.log = log
        self.session = session or requests.Session()

    # one signed action --------------------------------------------------------------------------

    def send(self, action: dict) -> dict:
        """The exchange's answer to one signed action ({"status": "ok", ...}). ExchangeRefused
        for an err status or a 4xx; OutcomeUnknown when the answer was lost; a 429 is retried
        (with a new nonce: the refused one was never used)."""
        def attempt():
            nonce = self.nonces.next()
            sig = signing.sign_l1_action(self.account.wallet, action, self.vault, nonce, None,
                                         self.account.is_mainnet)
            body = orjson.dumps({"action": action, "nonce": nonce, "signature": sig,
                                 "vaultAddress": self.vault, "expiresAfter": None})
            try:
                r = self.session.post(self.url, data=body, timeout=self.timeout_s,
                                      headers={"Content-Type": "application/json"})
            except requests.ConnectionError as e:
                if _never_sent(e):
                    raise Retryable("cannot connect") from None
                raise OutcomeUnknown(f"POST {self.url} {action['type']}: the connection was "
                                     f"lost; the outcome is unknown") from None
            except requests.Timeout:
                raise OutcomeUnknown(f"POST {self.url} {action['type']}: no answer in "
                                     f"{self.timeout_s:g} s; the outcome is unknown") from None
            if r.status_code == 429:
                raise Retryable("HTTP 429", retry_after_s(r.headers.get("Retry-After")))
            if r.status_code >= 500:
                raise OutcomeUnknown(f"POST {self.url} {action['type']}: HTTP {r.status_code}; "
                                     f"the outcome is unknown")
            if r.status_code != 200:
                raise ExchangeRefused(f"{action['type']}: HTTP {r.status_code}: {r.text[:160]}")
            try:
                reply = orjson.loads(r.content)
            except orjson.JSONDecodeError:
                raise OutcomeUnknown(f"{action['type']}: an answer that is not JSON") from None
            if not isinstance(reply, dict) or reply.get("status") != "ok":
                why = reply.get("response") if isinstance(reply, dict) else reply
                raise ExchangeRefused(f"{action['type']}: {why}")
            return reply

        try:
            return retry.call(attempt, tries=self.retries + 1, backoff_s=self.backoff_s,
                              backoff_max_s=self.backoff_max_s)
        except Retryable as e:
            raise TemporaryFailure(f"POST {self.url} {action['type']}: {e.why}; gave up after "
                                   f"{self.retries + 1} tries") from None

    # orders, never twice ------------------------------------------------------------------------

    def place(self, wires: list[dict], grouping: str = "na") -> list:
        """Place orders (each with a cloid); their statuses in order. An unknown outcome is
        resolved by asking the exchange by cloid: a known order is never sent again, and only
        the ones it has never seen are sent once more."""
        if any("c" not in w for w in wires):
            raise ValueError("every order needs a cloid: an unknown outcome is resolved by it")
        try:
            return self.send(signing.order_action(wires, grouping))["response"]["data"]["statuses"]
        except OutcomeUnknown as e:
            if self.log:
                self.log.warning("order outcome unknown: asking the exchange by cloid",
                                 error=e.msg, cloids=[w["c"] for w in wires])
        known = {w["c"]: self.order_status(w["c"]) for w in wires}
        missing = [w for w in wires if known[w["c"]] is None]
        sent = iter(self.send(signing.order_action(missing, grouping))["response"]["data"]
                    ["statuses"]) if missing else iter(())
        return [known[w["c"]] if known[w["c"]] is not None else next(sent) for w in wires]

    def order_status(self, cloid: str) -> dict | None:
        """What the exchange knows of an order, as a place() status ({"resting": ...},
        {"filled": ...}, {"canceled": ...}), or None when it has never seen the cloid."""
        st = self.info.post_info({"type": "orderStatus", "user": self.account.address,
                                  "oid": cloid})
        if st.get("status") != "order":
            return None
        order, status = st["order"]["order"], st["order"]["status"]
        ids = {"oid": order["oid"], "cloid": cloid}
        if status == "filled":
            return {"filled": {**ids, "totalSz": order["origSz"]}}
        if status == "open":
            return {"resting": ids}
        return {status: ids}


def _never_sent(e: requests.ConnectionError) -> bool:
    """A refused connection: nothing reached the exchange, so sending again is safe."""
    return "refused" in str(e).lower()
