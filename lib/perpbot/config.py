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
                     MarketConfig, RegimeConfig, RiskParams, SignalParams, StrategyParams)
from .timeutil import INTERVAL_MS

DEFAULT_PATH = "config.yaml"
SECRET_NAMES = ("HL_PRIVATE_KEY", "HL_ACCOUNT_ADDRESS", "DISCORD_WEBHOOK_URL",
                "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


@dataclass(frozen=True)
class ExchangeConfig:
    api_url: str = "https://api.hyperliquid.xyz"     # mainnet, testnet or a local hl-sim
    clock: Literal["wall", "sim"] = "wall"       # "sim" follows hl-sim's clock (GET /sim/time)
    timeout_s: float = 10.0                      # per HTTP request
    retries: int = 5                             # retries after the first try on 429, 5xx, timeouts
    backoff_s: float = 0.5                       # first retry delay; doubles each retry, with jitter
    backoff_max_s: float = 30.0
    weight_per_min: int = 1200                   # the exchange's per-IP REST weight budget
    weight_share: float = 0.8                    # fraction of that budget this process may spend
    # whose signatures live orders carry; Hyperliquid's own URLs say it, any other must
    network: Literal["mainnet", "testnet"] | None = None


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
class ExecutionConfig:
    """Live execution (execute --mode live); paper and replay ignore it."""

    allow_mainnet: bool = False          # live orders on mainnet need this as well as --mode live
    entry_timeout_s: float = 30.0        # a post-only entry not filled by then is cancelled ...
    entry_fallback: Literal["cancel", "ioc"] = "cancel"   # ... or crosses (ioc), bounded below
    max_slippage_bps: float = 100.0      # an exit IOC's (and an ioc entry's) bound from the mid
    max_intent_age_s: float = 300.0      # an older intent is refused, not placed
    warn_slippage_bps: float = 20.0      # a fill worse than this is a warning line


ALERT_EVENTS = ("STARTED", "OPEN", "CLOSE", "HEARTBEAT", "STALE", "HALT", "FAILED", "RECONCILE",
                "UNHEDGED", "DAILY")


@dataclass(frozen=True)
class AlertsConfig:
    """Alerts to Discord (DISCORD_WEBHOOK_URL) and Telegram (TELEGRAM_BOT_TOKEN and
    TELEGRAM_CHAT_ID), each optional: the secrets say which channels there are."""

    telegram_api_url: str = "https://api.telegram.org"
    heartbeat_minutes: float = 30.0      # minutes of the loop's clock between heartbeats
    stale_seconds: float = 60.0          # wall seconds without a price before STALE
    max_per_minute: int = 20             # per channel
    events: tuple[Literal[ALERT_EVENTS], ...] = ALERT_EVENTS     # which events go out
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Secrets:
    """Values from the environment or .env. repr() never shows them."""

    values: dict = field(default_factory=dict, repr=False, compare=False)
    origins: dict = field(default_factory=dict, repr=False, compare=False)  # name -> where from

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def __repr__(self) -> str:
        return f"Secrets(set={sorted(k for k, v in self.values.items() if v)})"


@dataclass(frozen=True, kw_only=True)
class Config(StrategyParams):
    """The whole config: the strategy's sections (StrategyParams: indicators, signals, risk,
    costs, regime, backtest) and the exchange, the symbols, the data and the timeframe."""

    exchange: ExchangeConfig = ExchangeConfig()
    symbols: tuple[str, ...] = ("ETH",)
    data: DataConfig = DataConfig()
    strategy: StrategyConfig = StrategyConfig()
    execution: ExecutionConfig = ExecutionConfig()
    alerts: AlertsConfig = AlertsConfig()
    path: Path = Path(DEFAULT_PATH)              # not a key: where this config came from
    secrets: Secrets = Secrets()                 # not a key: from the environment
    lines: dict = field(default_factory=dict, repr=False, compare=False)   # key -> file line

    @property
    def db_path(self) -> Path:
        p = Path(self.data.db_path)
        return p if p.is_absolute() else self.path.parent / p


_NOT_KEYS = {"path", "secrets", "lines"}
_STRATEGY = {f.name for f in dataclasses.fields(StrategyParams)}


class Where:
    """Where a key stands: the file, and the key's line when the file has it."""

    def __init__(self, path: str, lines: dict | None = None):
        self.path = path
        self.lines = lines or {}

    def __call__(self, key: str = "") -> str:
        line = self.lines.get(key)
        while line is None and key:             # a key the file lacks: its section's line
            key = key[:key.rindex("[")] if key.endswith("]") else key.rpartition(".")[0]
            line = self.lines.get(key)
        return f"{self.path}: line {line}" if line else self.path


def key_lines(node, prefix: str = "", out: dict | None = None) -> dict[str, int]:
    """Dotted key (regime.markets[0].weight) -> its line, from a composed YAML node."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}{k.value}"
            out[key] = k.start_mark.line + 1
            key_lines(v, key + ".", out)
    elif isinstance(node, yaml.SequenceNode):
        base = prefix.rstrip(".")
        for i, v in enumerate(node.value):
            out[f"{base}[{i}]"] = v.start_mark.line + 1
            key_lines(v, f"{base}[{i}].", out)
    return out


def _did_you_mean(name: str, options) -> str:
    import difflib
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


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


def _convert(tp, value, key: str, where: Where):
    def bad():
        return ConfigError(f'{where(key)}: key "{key}": expected {_describe(tp)}, '
                           f'got {_got(value)}')

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


def _build(cls, raw: dict, prefix: str, where: Where):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS}
    for k in raw:
        if k not in fields:
            raise ConfigError(f'{where(prefix + str(k))}: unknown key "{prefix}{k}"'
                              f'{_did_you_mean(str(k), fields)}')
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name in raw:
            kwargs[name] = _convert(hints[name], raw[name], key, where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f'{where(key)}: missing required key "{key}" '
                              f'({_describe(hints[name])})')
    return cls(**kwargs)


# The range of every number a user sets: (low, high, low is open, high is open); None: no bound.
RANGES = {
    "exchange.timeout_s": (0, 300, True, False), "exchange.retries": (0, 20, False, False),
    "exchange.backoff_s": (0, 60, False, False), "exchange.backoff_max_s": (0, 600, False, False),
    "exchange.weight_per_min": (0, None, True, False),
    "exchange.weight_share": (0, 1, True, False),
    "data.history_days": (0, 3650, True, False),
    "indicators.bb_k": (0, 10, True, False),
    "signals.entry_z": (0, 10, True, False), "signals.exit_z": (0, 10, False, False),
    "signals.stop_z": (0, 20, True, False),
    "signals.rsi_overbought": (0, 100, True, True), "signals.rsi_oversold": (0, 100, True, True),
    "signals.adx_max": (0, 100, True, False), "signals.hurst_max": (0, 1, True, True),
    "signals.high_risk_entry_z": (0, 10, True, False),
    "signals.high_risk_exit_z": (0, 10, False, False),
    "signals.dovish_long_factor": (0, 2, True, False),
    "signals.hawkish_short_factor": (0, 2, True, False),
    "regime.poll_minutes": (0, 1440, True, False), "regime.timeout_s": (0, 300, True, False),
    "regime.retries": (0, 20, False, False),
    "regime.crisis_war_risk": (0, 1, False, False),
    "regime.high_risk_war_risk": (0, 1, False, False),
    "regime.rate_threshold": (0, 1, True, False),
    "regime.size_crisis": (0, 2, False, False), "regime.size_high_risk": (0, 2, False, False),
    "regime.size_other": (0, 2, False, False), "regime.staleness_minutes": (0, None, True, False),
    "risk.capital": (0, None, True, False), "risk.margin_usage": (0, 1, True, False),
    "risk.leverage": (1, 50, False, False), "risk.max_positions": (1, 100, False, False),
    "risk.capital_stop_pct": (0, 1, True, False), "risk.timeout_hours": (0, None, True, False),
    "risk.daily_loss_cap_pct": (0, 1, True, False), "risk.cooldown_minutes": (0, None, False, False),
    "risk.losing_weeks_halt": (1, 520, False, False),
    "costs.maker_fee": (-0.001, 0.01, False, False), "costs.taker_fee": (0, 0.01, False, False),
    "costs.slippage_min": (0, 0.1, False, False), "costs.slippage_max": (0, 0.1, False, False),
    "costs.slippage_fixed_bps": (0, 1000, False, False),
    "backtest.entry_delay": (0, 100, False, False),
    "execution.entry_timeout_s": (0, 3600, True, False),
    "execution.max_slippage_bps": (0, 1000, True, False),
    "execution.max_intent_age_s": (0, 86400, True, False),
    "execution.warn_slippage_bps": (0, 1000, False, False),
    "alerts.heartbeat_minutes": (0, None, True, False),
    "alerts.stale_seconds": (0, None, True, False),
    "alerts.max_per_minute": (1, 1000, False, False),
    "alerts.timeout_s": (0, 300, True, False),
    "backtest.exchange_stop_pct": (0, 1, True, False),
}

# Rules between keys: (keys in the order they must increase, strictly).
ORDERS = (
    ("signals.exit_z", "signals.entry_z", "signals.stop_z"),
    ("signals.high_risk_exit_z", "signals.high_risk_entry_z", "signals.stop_z"),
    ("signals.rsi_oversold", "signals.rsi_overbought"),
)
NOT_ABOVE = (("costs.slippage_min", "costs.slippage_max"),
             ("exchange.backoff_s", "exchange.backoff_max_s"),
             ("regime.high_risk_war_risk", "regime.crisis_war_risk"))


def value_of(cfg: Config, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _range_error(key: str, value, rule) -> str | None:
    lo, hi, lo_open, hi_open = rule
    if value is None:
        return None
    if (lo is not None and (value <= lo if lo_open else value < lo)) or \
            (hi is not None and (value >= hi if hi_open else value > hi)):
        left = "" if lo is None else f"{lo:g} {'<' if lo_open else '<='} "
        right = "" if hi is None else f" {'<' if hi_open else '<='} {hi:g}"
        return f'key "{key}": expected {left}{key.split(".")[1]}{right}, got {value:g}'
    return None


def _check(cfg: Config, where: Where) -> None:
    for i, tf in enumerate(cfg.data.timeframes):
        if tf not in INTERVAL_MS:
            raise ConfigError(f'{where(f"data.timeframes[{i}]")}: key "data.timeframes[{i}]": '
                              f'expected one of {", ".join(INTERVAL_MS)}, got "{tf}"')
    if cfg.strategy.timeframe not in cfg.data.timeframes:
        raise ConfigError(f'{where("strategy.timeframe")}: key "strategy.timeframe": '
                          f'"{cfg.strategy.timeframe}" is not among data.timeframes')
    if not cfg.symbols:
        raise ConfigError(f'{where("symbols")}: key "symbols": expected at least one symbol')
    for key, rule in RANGES.items():
        err = _range_error(key, value_of(cfg, key), rule)
        if err:
            raise ConfigError(f"{where(key)}: {err}")
    for keys in ORDERS:
        values = [value_of(cfg, k) for k in keys]
        if any(a >= b for a, b in zip(values, values[1:])):
            shown = " < ".join(f"{k.split('.')[1]} ({v:g})" for k, v in zip(keys, values))
            raise ConfigError(f'{where(keys[0])}: keys {", ".join(keys)}: expected {shown}')
    for low, high in NOT_ABOVE:
        if value_of(cfg, low) > value_of(cfg, high):
            raise ConfigError(f'{where(low)}: key "{low}": {value_of(cfg, low):g} is above '
                              f'{high} ({value_of(cfg, high):g})')
    ind = cfg.indicators
    for name in ("z_window", "bb_window", "rsi_period", "adx_period", "hurst_window"):
        if getattr(ind, name) < 2:
            raise ConfigError(f'{where("indicators." + name)}: key "indicators.{name}": '
                              f'expected an integer >= 2')
    if ind.window < ind.warmup():
        raise ConfigError(f'{where("indicators.window")}: key "indicators.window": {ind.window} '
                          f'candles cannot warm up every indicator (needs {ind.warmup()})')
    for i, m in enumerate(cfg.regime.markets):
        if m.weight <= 0:
            key = f"regime.markets[{i}].weight"
            raise ConfigError(f'{where(key)}: key "{key}": expected a number > 0')
    if not cfg.exchange.api_url.startswith(("http://", "https://")):
        raise ConfigError(f'{where("exchange.api_url")}: key "exchange.api_url": expected an '
                          f'http(s) URL, got "{cfg.exchange.api_url}"')


def check_leverage(cfg: Config, max_leverage: dict[str, int]) -> None:
    """risk.leverage against each traded asset's maximum (the exchange's meta), at start."""
    for sym in cfg.symbols:
        top = max_leverage.get(sym)
        if top is not None and cfg.risk.leverage > top:
            raise ConfigError(f'{Where(str(cfg.path), cfg.lines)("risk.leverage")}: key '
                              f'"risk.leverage": {cfg.risk.leverage:g} is above {sym}\'s '
                              f'maximum leverage on the exchange ({top})')


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
    origins: dict[str, str] = {}
    for env_file in (Path.cwd() / ".env", config_path.parent / ".env"):
        if env_file.is_file():
            found = {k: v for k, v in parse_env_file(env_file).items() if k in SECRET_NAMES}
            values.update(found)
            origins.update(dict.fromkeys(found, str(env_file)))
    found = {k: environ[k] for k in SECRET_NAMES if environ.get(k)}
    values.update(found)
    origins.update(dict.fromkeys(found, "environment"))
    return Secrets(values, origins)


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
        lines = key_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{where}: {at}not valid YAML ({getattr(e, 'problem', e)})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys at the top level")
    at = Where(where, lines)
    cfg = _build(Config, raw, "", at)
    cfg = dataclasses.replace(cfg, path=p, secrets=load_secrets(p, environ), lines=lines)
    _check(cfg, at)
    return cfg


def from_dict(raw: dict, path: str | os.PathLike = DEFAULT_PATH) -> Config:
    """A Config built from a dict, checked as a file would be (for tests and tools)."""
    cfg = dataclasses.replace(_build(Config, raw, "", Where(str(path))), path=Path(path))
    _check(cfg, Where(str(path)))
    return cfg


def override(cfg: Config, assignment: str) -> Config:
    """cfg with one `section.key=value` set (the value read as YAML, checked as in a file)."""
    key, sep, text = assignment.partition("=")
    where = Where("--param")
    if not sep or "." not in key:
        raise ConfigError(f'--param "{assignment}": expected section.key=value')
    section, name = key.split(".", 1)
    fields = {f.name: f for f in dataclasses.fields(Config) if f.name not in _NOT_KEYS}
    if section not in fields or not dataclasses.is_dataclass(getattr(cfg, section)):
        raise ConfigError(f'--param: unknown section "{section}"{_did_you_mean(section, fields)}')
    part = getattr(cfg, section)
    hints = typing.get_type_hints(type(part))
    if name not in hints:
        raise ConfigError(f'--param: unknown key "{key}"{_did_you_mean(name, hints)}')
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = text
    value = _convert(hints[name], raw, key, where)
    new = dataclasses.replace(cfg, **{section: dataclasses.replace(part, **{name: value})})
    _check(new, where)
    return new


def effective(cfg: Config) -> list[tuple[str, object, str]]:
    """(key, value, origin) of every key in force: the file and line that set it, or
    "default"; then the secrets, masked, with where they came from."""
    rows = []

    def walk(obj, prefix):
        fields = [f for f in dataclasses.fields(obj) if f.name not in _NOT_KEYS]
        if obj is cfg:                          # the file's order: the exchange first
            fields.sort(key=lambda f: f.name in _STRATEGY)
        for f in fields:
            key, value = prefix + f.name, getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, key + ".")
                continue
            if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                value = [dataclasses.asdict(v) for v in value]
            elif isinstance(value, tuple):
                value = list(value)
            line = cfg.lines.get(key)
            rows.append((key, value, f"{cfg.path}: line {line}" if line else "default"))
    walk(cfg, "")
    for name in SECRET_NAMES:
        set_ = cfg.secrets.get(name)
        rows.append((name, "****" if set_ else None,
                     cfg.secrets.origins.get(name, "not set")))
    return rows
