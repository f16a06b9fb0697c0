"""Who trades live, on which network: the checks made before any /exchange request.

HL_PRIVATE_KEY (the environment or .env, never logged, never in an error) signs; when it is an
agent (API) wallet, HL_ACCOUNT_ADDRESS names the account it trades for. The network chooses the
signature's source ("a" mainnet, "b" testnet): Hyperliquid's own URLs say it, any other URL
must name it in exchange.network. Mainnet also needs execution.allow_mainnet: true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import Config, Where
from ..errors import ConfigError

NETWORK_OF_URL = {"https://api.hyperliquid.xyz": "mainnet",
                  "https://api.hyperliquid-testnet.xyz": "testnet"}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class LiveAccount:
    network: str                 # mainnet or testnet
    address: str                 # the account traded (lowercase)
    signer: str                  # the signing wallet's address (lowercase)
    wallet: object = field(repr=False, compare=False)   # eth_account LocalAccount

    @property
    def is_mainnet(self) -> bool:
        return self.network == "mainnet"


def network_of(cfg: Config) -> str:
    """exchange.network, or the network of Hyperliquid's URL; ConfigError for another URL."""
    known = NETWORK_OF_URL.get(cfg.exchange.api_url.rstrip("/"))
    at = Where(str(cfg.path), cfg.lines)
    if cfg.exchange.network is None:
        if known is None:
            raise ConfigError(f'{at("exchange.network")}: key "exchange.network": required for '
                              f'{cfg.exchange.api_url} (mainnet or testnet): it chooses whose '
                              f'signatures live orders carry')
        return known
    if known is not None and known != cfg.exchange.network:
        raise ConfigError(f'{at("exchange.network")}: key "exchange.network": '
                          f'{cfg.exchange.network}, but {cfg.exchange.api_url} is {known}')
    return cfg.exchange.network


def live_account(cfg: Config) -> LiveAccount:
    """The account and signer for live execution, or ConfigError (exit 2) naming what is
    missing; nothing here touches the network."""
    from eth_account import Account

    network = network_of(cfg)
    if network == "mainnet" and not cfg.execution.allow_mainnet:
        at = Where(str(cfg.path), cfg.lines)
        raise ConfigError(f'{at("execution.allow_mainnet")}: key "execution.allow_mainnet": '
                          f'live orders on mainnet need execution.allow_mainnet: true')
    key = cfg.secrets.get("HL_PRIVATE_KEY")
    if not key:
        raise ConfigError("HL_PRIVATE_KEY is not set (the environment, or .env beside the "
                          "config): live orders need it to sign")
    try:
        wallet = Account.from_key(key)
    except (ValueError, TypeError):
        raise ConfigError("HL_PRIVATE_KEY is not a private key (expected 0x and 64 hex "
                          "digits)") from None
    address = cfg.secrets.get("HL_ACCOUNT_ADDRESS") or wallet.address
    if not _ADDRESS.match(address):
        raise ConfigError(f"HL_ACCOUNT_ADDRESS is not an address (expected 0x and 40 hex "
                          f"digits), got {len(address)} characters")
    return LiveAccount(network, address.lower(), wallet.address.lower(), wallet)
