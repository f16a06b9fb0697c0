"""hl-sim's side of POST /exchange before any action runs: the signature recovered to its
signer, the signer known (a registered account or an agent it approved), the nonce and the
expiry checked, each refused with the exchange's own words (reference §3.7-3.8, §4.6)."""

from __future__ import annotations

import bisect

from ..hl import signing

DAY_MS = 86_400_000
KEPT_NONCES = 100           # the exchange keeps the 100 highest nonces per signer


class NonceBook:
    def __init__(self):
        self.seen: dict[str, list[int]] = {}

    def error(self, signer: str, nonce: int, now: int) -> str | None:
        """Why this nonce is refused, or None (and then it is recorded as used)."""
        if nonce >= now + DAY_MS:
            return f"Invalid nonce: nonce too high {nonce} > {now + DAY_MS}"
        if nonce <= now - 2 * DAY_MS:
            return f"Invalid nonce: nonce too low {nonce} < {now - 2 * DAY_MS}"
        kept = self.seen.setdefault(signer, [])
        i = bisect.bisect_left(kept, nonce)
        if i < len(kept) and kept[i] == nonce:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(kept) >= KEPT_NONCES and nonce < kept[0]:
            return f"Invalid nonce: nonce too low {nonce} < {kept[0]}"
        kept.insert(i, nonce)
        del kept[:-KEPT_NONCES]
        return None


# user-signed actions hl-sim takes: type -> (EIP-712 fields, primary type)
USER_SIGNED = {"approveAgent": (signing.APPROVE_AGENT_TYPES,
                                "HyperliquidTransaction:ApproveAgent")}


def authenticate(body: dict, now: int, is_mainnet: bool, accounts: set, agents: dict,
                 nonces: NonceBook) -> tuple[str | None, str | None]:
    """(the account acting, None) or (None, the exchange's error string). `agents` maps an
    approved agent's address to its master's; a user-signed action (approving an agent) must
    be signed by the account itself, for this network."""
    action, nonce, sig = body["action"], body["nonce"], body["signature"]
    vault, expires = body.get("vaultAddress"), body.get("expiresAfter")
    if expires is not None and expires < now:
        return None, "Action already expired"
    user_signed = USER_SIGNED.get(action["type"])
    try:
        if user_signed is not None:
            chain = "Mainnet" if is_mainnet else "Testnet"
            if action.get("hyperliquidChain") != chain or action.get("nonce") != nonce:
                return None, "L1 error: Invalid signature."
            signer = signing.recover_user_signer(action, *user_signed, sig)
        else:
            signer = signing.recover_l1_signer(action, vault, nonce, expires, is_mainnet, sig)
    except (ValueError, KeyError, TypeError):
        return None, "L1 error: Invalid signature."
    account = signer if signer in accounts else \
        (agents.get(signer) if user_signed is None else None)
    if account is None:
        return None, f"L1 error: User or API Wallet {signer} does not exist."
    error = nonces.error(signer, nonce, now)
    if error:
        return None, error
    return (vault.lower() if vault else account), None
