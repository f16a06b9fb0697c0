"""config.yaml into typed, frozen dataclasses; secrets only from the environment or a .env file.

Every key is checked: an unknown key, a wrong type or a missing required value is a ConfigError
(exit 2) whose one line names the file, the dotted key and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from .errors import ConfigError
from .params import (BacktestParams, CostParams, IndicatorParams,  # noqa: F401
                     MarketConfig, RegimeConfig, RiskParams, SignalParams)
from .timeutil import INTERVAL_MS

DEFAULT_PATH = "config.yaml"
SECRET_NAMES = ("HL_PRIVATE_KEY", "HL_ACCOUNT_ADDRESS", "DISCORD_WEBHOOK_URL",
                "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


@dataclass(frozen=True)
class ExchangeConfig:
    api_url: str                                 # required: mainnet, testnet or a local hl-sim
    clock: Literal["wall", "sim"] = "wall"       # "sim" follows hl-sim's clock (GET /sim/time)
    timeout_s: float = 10.0                      # per HTTP request
    retries: int = 5                             # retries after the first try on 429, 5xx, timeouts
    backoff_s: float = 0.5                       # first retry delay; doubles each retry, with jitter
    backoff_max_s: float = 30.0
    weight_per_min: int = 1200                   # the exchange's per-IP REST weight budget
    weight_share: float = 0.8                    # fraction of that budget this process may spend


@dataclass(frozen=True)
class DataConfig:
    db_path: str = "data/perpbot.db"             # relative to the config file's folder
    timeframes: tuple[str, ...] = ("1m", "5m", "15m", "1h")
    history_days: float = 30.0                   # how far back a first backfill reaches
    funding: bool = True                         # backfill funding history too


@dataclass(frozen=True)
class StrategyConfig:
    timeframe: str = "15m"


@dataclass(frozen=True)
class Secrets:
    """Values from the environment or .env. repr() never shows them."""

    values: dict = field(default_factory=dict, repr=False, compare=False)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def __repr__(self) -> str:
        return f"Secrets(set={sorted(k for k, v in self.values.items() if v)})"


@dataclass(frozen=True)
class Config:
    exchange: ExchangeConfig
    symbols: tuple[str, ...] = ("ETH",)
    data: DataConfig = DataConfig()
    strategy: StrategyConfig = StrategyConfig()
    indicators: IndicatorParams = IndicatorParams()
    signals: SignalParams = SignalParams()
    regime: RegimeConfig = RegimeConfig()
    risk: RiskParams = RiskParams()
    costs: CostParams = CostParams()
    backtest: BacktestParams = BacktestParams()
    path: Path = Path(DEFAULT_PATH)              # not a key: where this config came from
    secrets: Secrets = Secrets()                 # not a key: from the environment

    @property
    def db_path(self) -> Path:
        p = Path(self.data.db_path)
        return p if p.is_absolute() else self.path.parent / p


_NOT_KEYS = {"path", "secrets"}


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _describe(inner[0]) + " or null"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        return "a list of " + {str: "strings", int: "integers", float: "numbers"}.get(inner, "items")
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, "a mapping")


def _got(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value).lower() if isinstance(value, bool) else repr(value)


def _convert(tp, value, key: str, where: str):
    def bad():
        return ConfigError(f'{where}: key "{key}": expected {_describe(tp)}, got {_got(value)}')

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(inner[0], value, key, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return _build(tp, value, key + ".", where)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad()
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise bad()
        inner = typing.get_args(tp)[0]
        return tuple(_convert(inner, v, f"{key}[{i}]", where) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise bad()
        return value
    raise TypeError(f"unsupported config type {tp!r}")


def _build(cls, raw: dict, prefix: str, where: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS}
    for k in raw:
        if k not in fields:
            raise ConfigError(f'{where}: unknown key "{prefix}{k}"')
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name in raw:
            kwargs[name] = _convert(hints[name], raw[name], key, where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f'{where}: missing required key "{key}" ({_describe(hints[name])})')
    return cls(**kwargs)


def _check(cfg: Config, where: str) -> None:
    for i, tf in enumerate(cfg.data.timeframes):
        if tf not in INTERVAL_MS:
            raise ConfigError(f'{where}: key "data.timeframes[{i}]": expected one of '
                              f'{", ".join(INTERVAL_MS)}, got "{tf}"')
    if cfg.strategy.timeframe not in cfg.data.timeframes:
        raise ConfigError(f'{where}: key "strategy.timeframe": "{cfg.strategy.timeframe}" '
                          f'is not among data.timeframes')
    if not cfg.symbols:
        raise ConfigError(f'{where}: key "symbols": expected at least one symbol')
    ind = cfg.indicators
    for name in ("z_window", "bb_window", "rsi_period", "adx_period", "hurst_window"):
        if getattr(ind, name) < 2:
            raise ConfigError(f'{where}: key "indicators.{name}": expected an integer >= 2')
    if ind.window < ind.warmup():
        raise ConfigError(f'{where}: key "indicators.window": {ind.window} candles cannot warm '
                          f'up every indicator (needs {ind.warmup()})')
    rg = cfg.regime
    if not 0 <= rg.high_risk_war_risk <= rg.crisis_war_risk <= 1:
        raise ConfigError(f'{where}: key "regime.high_risk_war_risk": expected 0 <= '
                          f'high_risk_war_risk <= crisis_war_risk <= 1')
    for i, m in enumerate(rg.markets):
        if m.weight <= 0:
            raise ConfigError(f'{where}: key "regime.markets[{i}].weight": expected a number > 0')
    if not 0 < cfg.exchange.weight_share <= 1:
        raise ConfigError(f'{where}: key "exchange.weight_share": expected a number in (0, 1]')
    if not cfg.exchange.api_url.startswith(("http://", "https://")):
        raise ConfigError(f'{where}: key "exchange.api_url": expected an http(s) URL, '
                          f'got "{cfg.exchange.api_url}"')


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; # comments, blank lines, an optional `export ` and quotes are allowed."""
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        k, sep, v = line.partition("=")
        if not sep or not k.strip():
            raise ConfigError(f"{path}: line {n}: expected KEY=VALUE")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def load_secrets(config_path: Path, environ=None) -> Secrets:
    """The environment wins over .env beside the config file, which wins over .env in the cwd."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for env_file in (Path.cwd() / ".env", config_path.parent / ".env"):
        if env_file.is_file():
            values.update({k: v for k, v in parse_env_file(env_file).items() if k in SECRET_NAMES})
    values.update({k: environ[k] for k in SECRET_NAMES if environ.get(k)})
    return Secrets(values)


def load(path: str | os.PathLike | None = None, environ=None) -> Config:
    p = Path(path or DEFAULT_PATH)
    where = str(p)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such config file (copy config.example.yaml)") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot read: {e.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{where}: {at}not valid YAML ({getattr(e, 'problem', e)})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys at the top level")
    cfg = _build(Config, raw, "", where)
    cfg = dataclasses.replace(cfg, path=p, secrets=load_secrets(p, environ))
    _check(cfg, where)
    return cfg


def from_dict(raw: dict, path: str | os.PathLike = DEFAULT_PATH) -> Config:
    """A Config built from a dict, checked as a file would be (for tests and tools)."""
    cfg = dataclasses.replace(_build(Config, raw, "", str(path)), path=Path(path))
    _check(cfg, str(path))
    return cfg


def override(cfg: Config, assignment: str) -> Config:
    """cfg with one `section.key=value` set (the value read as YAML, checked as in a file)."""
    key, sep, text = assignment.partition("=")
    where = "--param"
    if not sep or "." not in key:
        raise ConfigError(f'{where} "{assignment}": expected section.key=value')
    section, name = key.split(".", 1)
    fields = {f.name: f for f in dataclasses.fields(Config) if f.name not in _NOT_KEYS}
    if section not in fields or not dataclasses.is_dataclass(getattr(cfg, section)):
        raise ConfigError(f'{where}: unknown section "{section}"')
    part = getattr(cfg, section)
    hints = typing.get_type_hints(type(part))
    if name not in hints:
        raise ConfigError(f'{where}: unknown key "{key}"')
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = text
    value = _convert(hints[name], raw, key, where)
    new = dataclasses.replace(cfg, **{section: dataclasses.replace(part, **{name: value})})
    _check(new, where)
    return new
