"""Signing Hyperliquid's L1 actions (orders, cancels, leverage, the dead-man switch), on msgpack
and eth-account, to the rules of ../shared/reference/hyperliquid-api.md §3-§5.

An L1 action is hashed as msgpack(action) + the nonce (8 bytes, big-endian) + the vault
(0x00, or 0x01 and its 20 address bytes) + the expiry when set (0x00 and 8 bytes); the hash is
the connectionId of a "phantom agent" {source: "a" on mainnet, "b" on testnet, connectionId},
signed as EIP-712 typed data under the domain Exchange/1/1337/0x0. msgpack packs keys in the
dicts' insertion order and integers in their smallest form, so the builders below write every
key in the exchange's order; prices and sizes go as strings (float_to_wire), never floats.
"""

from __future__ import annotations

from decimal import Decimal

import msgpack
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_hex

EXCHANGE_DOMAIN = {"name": "Exchange", "version": "1", "chainId": 1337,
                   "verifyingContract": "0x0000000000000000000000000000000000000000"}
AGENT_TYPES = {
    "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}],
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                     {"name": "chainId", "type": "uint256"},
                     {"name": "verifyingContract", "type": "address"}],
}
TIFS = ("Alo", "Ioc", "Gtc")


# numbers on the wire ----------------------------------------------------------------------------

def float_to_wire(x: float) -> str:
    """A price or size as the exchange hashes and reads it: at most 8 decimals, no trailing
    zeros, no exponent; a value that 8 decimals would change is refused (ValueError), and a
    negative zero is "0"."""
    rounded = f"{x:.8f}"
    if abs(float(rounded) - x) >= 1e-12:
        raise ValueError("float_to_wire causes rounding", x)
    if rounded.startswith("-") and float(rounded) == 0:
        rounded = rounded[1:]
    text = f"{Decimal(rounded).normalize():f}"
    return "0" if text == "-0" else text


def float_to_int(x: float, power: int) -> int:
    """x * 10**power as an integer; ValueError when that is not (nearly) whole."""
    scaled = x * 10 ** power
    if abs(round(scaled) - scaled) >= 1e-3:
        raise ValueError("float_to_int causes rounding", x)
    return round(scaled)


def float_to_int_for_hashing(x: float) -> int:
    return float_to_int(x, 8)


def float_to_usd_int(x: float) -> int:
    return float_to_int(x, 6)


# action builders (the exchange's key order) ----------------------------------------------------

def order_wire(asset: int, is_buy: bool, price: float, size: float, reduce_only: bool,
               order_type: dict, cloid: str | None = None) -> dict:
    """One order: `order_type` is {"limit": {"tif": "Alo"|"Ioc"|"Gtc"}} or {"trigger":
    {"isMarket": bool, "triggerPx": float, "tpsl": "tp"|"sl"}}; `cloid` "0x" + 32 hex."""
    if "limit" in order_type:
        tif = order_type["limit"]["tif"]
        if tif not in TIFS:
            raise ValueError(f"tif {tif!r}: expected one of {', '.join(TIFS)}")
        t = {"limit": {"tif": tif}}
    else:
        trig = order_type["trigger"]
        t = {"trigger": {"isMarket": bool(trig["isMarket"]),
                         "triggerPx": float_to_wire(trig["triggerPx"]), "tpsl": trig["tpsl"]}}
    wire = {"a": asset, "b": is_buy, "p": float_to_wire(price), "s": float_to_wire(size),
            "r": reduce_only, "t": t}
    if cloid is not None:
        wire["c"] = cloid
    return wire


def order_action(orders: list[dict], grouping: str = "na", builder: dict | None = None) -> dict:
    action = {"type": "order", "orders": orders, "grouping": grouping}
    if builder is not None:
        action["builder"] = {"b": builder["b"].lower(), "f": builder["f"]}
    return action


def cancel_action(cancels: list[tuple[int, int]]) -> dict:
    """Cancels by (asset, oid)."""
    return {"type": "cancel", "cancels": [{"a": a, "o": o} for a, o in cancels]}


def cancel_by_cloid_action(cancels: list[tuple[int, str]]) -> dict:
    """Cancels by (asset, cloid): note the exchange's longer key names here."""
    return {"type": "cancelByCloid", "cancels": [{"asset": a, "cloid": c} for a, c in cancels]}


def batch_modify_action(modifies: list[tuple[int | str, dict]]) -> dict:
    """Modifies of (oid or cloid, new order wire)."""
    return {"type": "batchModify", "modifies": [{"oid": o, "order": w} for o, w in modifies]}


def update_leverage_action(asset: int, leverage: int, is_cross: bool = True) -> dict:
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}


def schedule_cancel_action(time_ms: int | None = None) -> dict:
    """The dead-man switch: cancel every open order at time_ms (None clears it)."""
    action: dict = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = time_ms
    return action


def noop_action() -> dict:
    return {"type": "noop"}


# hashing and signing ----------------------------------------------------------------------------

def action_hash(action: dict, vault_address: str | None, nonce: int,
                expires_after: int | None) -> bytes:
    """keccak256 of the action's msgpack, the nonce, the vault and the expiry (see above)."""
    data = msgpack.packb(action)
    data += nonce.to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01" + bytes.fromhex(vault_address.removeprefix("0x"))
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak(data)


def l1_payload(connection_id: bytes, is_mainnet: bool) -> dict:
    return {"domain": EXCHANGE_DOMAIN, "types": AGENT_TYPES, "primaryType": "Agent",
            "message": {"source": "a" if is_mainnet else "b", "connectionId": connection_id}}


def sign_l1_action(wallet, action: dict, vault_address: str | None, nonce: int,
                   expires_after: int | None, is_mainnet: bool) -> dict:
    """{"r", "s", "v"} of an L1 action, signed by `wallet` (an eth_account LocalAccount); r and
    s as hex without leading zeros, v 27 or 28, as the exchange's own clients send them."""
    payload = l1_payload(action_hash(action, vault_address, nonce, expires_after), is_mainnet)
    signed = wallet.sign_message(encode_typed_data(full_message=payload))
    return {"r": to_hex(signed.r), "s": to_hex(signed.s), "v": signed.v}


def recover_l1_signer(action: dict, vault_address: str | None, nonce: int,
                      expires_after: int | None, is_mainnet: bool, signature: dict) -> str:
    """The address that signed an L1 action with this signature (lowercase): the exchange's
    side of sign_l1_action. A signature made for other bytes recovers some other address."""
    from eth_account import Account

    payload = l1_payload(action_hash(action, vault_address, nonce, expires_after), is_mainnet)
    vrs = (int(signature["v"]), int(signature["r"], 16), int(signature["s"], 16))
    return Account.recover_message(encode_typed_data(full_message=payload), vrs=vrs).lower()


# user-signed actions (usdSend, withdraw3, approveAgent, ...): EIP-712 over the action itself ----

USER_SIGNED_CHAIN_ID = "0x66eee"         # the chain the wallet signs on (421614); any is accepted
USD_SEND_TYPES = [{"name": "hyperliquidChain", "type": "string"},
                  {"name": "destination", "type": "string"},
                  {"name": "amount", "type": "string"}, {"name": "time", "type": "uint64"}]
WITHDRAW_TYPES = USD_SEND_TYPES
APPROVE_AGENT_TYPES = [{"name": "hyperliquidChain", "type": "string"},
                       {"name": "agentAddress", "type": "address"},
                       {"name": "agentName", "type": "string"},
                       {"name": "nonce", "type": "uint64"}]


def user_signed_payload(primary_type: str, payload_types: list, action: dict) -> dict:
    chain_id = int(action["signatureChainId"], 16)
    return {"domain": {"name": "HyperliquidSignTransaction", "version": "1",
                       "chainId": chain_id,
                       "verifyingContract": "0x0000000000000000000000000000000000000000"},
            "types": {primary_type: payload_types,
                      "EIP712Domain": AGENT_TYPES["EIP712Domain"]},
            "primaryType": primary_type, "message": action}


def sign_user_signed_action(wallet, action: dict, payload_types: list, primary_type: str,
                            is_mainnet: bool) -> dict:
    """Sign a user-signed action. As the SDK does, this sets the action's signatureChainId and
    hyperliquidChain ("Mainnet"/"Testnet"), which are sent inside it."""
    action["signatureChainId"] = USER_SIGNED_CHAIN_ID
    action["hyperliquidChain"] = "Mainnet" if is_mainnet else "Testnet"
    signed = wallet.sign_message(encode_typed_data(
        full_message=user_signed_payload(primary_type, payload_types, action)))
    return {"r": to_hex(signed.r), "s": to_hex(signed.s), "v": signed.v}


def approve_agent_action(agent_address: str, agent_name: str, nonce: int) -> dict:
    return {"type": "approveAgent", "agentAddress": agent_address.lower(),
            "agentName": agent_name, "nonce": nonce}


def recover_user_signer(action: dict, payload_types: list, primary_type: str,
                        signature: dict) -> str:
    """The address that signed a user-signed action (lowercase)."""
    from eth_account import Account

    vrs = (int(signature["v"]), int(signature["r"], 16), int(signature["s"], 16))
    return Account.recover_message(encode_typed_data(
        full_message=user_signed_payload(primary_type, payload_types, action)), vrs=vrs).lower()
