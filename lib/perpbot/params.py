"""Strategy parameters, light to import: every stage loads them with the config."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class IndicatorParams:
    z_window: int = 20          # candles in the z-score's SMA and std
    bb_window: int = 20         # candles in the Bollinger SMA and std
    bb_k: float = 2.0           # Bollinger width, in population standard deviations
    rsi_period: int = 14
    adx_period: int = 14
    hurst_window: int = 100     # candles of log price per Hurst estimate
    window: int = 400           # candles the trade loop feeds per tick (see indicators.py)

    def warmup(self) -> int:
        """Candles needed before every indicator is defined."""
        return max(self.z_window, self.bb_window, self.rsi_period + 1, 2 * self.adx_period,
                   self.hurst_window)

    def converged(self, tol: float = 1e-9) -> int:
        """Candles of history after which every indicator is within `tol` of its value from any
        longer history: finite windows forget exactly; Wilder's smoothing (factor 1 - 1/n) keeps
        a^k of its start after k candles, so on a 0-100 scale k = ln(tol / 100) / ln(a), with a
        quarter more for ADX's smoothing of a smoothing (lookahead-check measures it: EURUSD 1h,
        RSI 321 and ADX 368 against 357 and 456 here)."""
        def wilder(n: int) -> int:
            return math.ceil(math.log(tol / 100.0) / math.log(1.0 - 1.0 / n))
        return max(self.warmup(), self.rsi_period + 1 + wilder(self.rsi_period),
                   2 * self.adx_period + math.ceil(1.25 * wilder(self.adx_period)))


@dataclass(frozen=True)
class SignalParams:
    entry_z: float = 2.0            # enter short above +entry_z, long below -entry_z
    rsi_overbought: float = 70.0    # a short needs RSI above this
    rsi_oversold: float = 30.0      # a long needs RSI below this
    adx_max: float = 25.0           # entries only while ADX is below this (no strong trend)
    exit_z: float = 0.3             # take profit once z is back inside +/-exit_z (or beyond)
    stop_z: float = 3.0             # z-stop once z moves past this against the position
    hurst_gate: bool = False        # enter only while Hurst < hurst_max
    hurst_max: float = 0.5
    high_risk_entry_z: float = 2.5  # HIGH_RISK: entry threshold on both sides
    high_risk_exit_z: float = 0.5   # HIGH_RISK: take-profit band
    dovish_long_factor: float = 0.9     # DOVISH: long entry threshold times this
    hawkish_short_factor: float = 0.9   # HAWKISH: short entry threshold times this


Level = Literal["NORMAL", "DOVISH", "HAWKISH", "HIGH_RISK", "CRISIS"]


@dataclass(frozen=True)
class MarketConfig:
    """One prediction market the regime reads."""

    source: Literal["polymarket", "kalshi"]
    id: str                                  # Polymarket slug or condition id; Kalshi ticker
    category: Literal["war_risk", "rate_change"]
    weight: float = 1.0
    # rate_change markets: does Yes mean a rate cut (dovish) or a hike (hawkish)?
    direction: Literal["cut", "hike"] = "cut"


@dataclass(frozen=True)
class RegimeConfig:
    markets: tuple[MarketConfig, ...] = ()
    poll_minutes: float = 15.0
    polymarket_url: str = "https://gamma-api.polymarket.com"
    kalshi_url: str = "https://api.elections.kalshi.com"
    timeout_s: float = 10.0
    retries: int = 3
    crisis_war_risk: float = 0.7         # CRISIS when war_risk >= this
    high_risk_war_risk: float = 0.4      # HIGH_RISK when war_risk >= this
    rate_threshold: float = 0.3          # DOVISH above +this, HAWKISH below -this
    size_crisis: float = 0.0             # position size multipliers by level
    size_high_risk: float = 0.5
    size_other: float = 1.0
    staleness_minutes: float = 60.0      # fresh data older than this no longer holds
    fail_safe_level: Level = "HIGH_RISK"  # the level once data is stale (never NORMAL by default)


@dataclass(frozen=True)
class RiskParams:
    capital: float = 10_000.0            # paper capital in USDC (live: the account value)
    margin_usage: float = 0.5            # fraction of capital a position may use as margin
    leverage: float = 3.0
    max_positions: int = 1
    capital_stop_pct: float = 0.03       # close a position whose loss reaches this of capital
    timeout_hours: float = 24.0          # close a position held this long
    daily_loss_cap_pct: float = 0.08     # no entries once today's realized loss reaches this
    cooldown_minutes: float = 30.0       # no entries this long after any stop loss
    losing_weeks_halt: int = 3           # consecutive losing 7-day windows that halt start-up


@dataclass(frozen=True)
class CostParams:
    maker_fee: float = 0.00015           # entries and ordinary exits: maker limit at mid
    taker_fee: float = 0.00045           # stop exits (capital, z, exchange) and emergency closes
    slippage_min: float = 0.0001         # adverse slippage, uniform in [min, max] ...
    slippage_max: float = 0.0005
    slippage_fixed_bps: float | None = None   # ... or fixed, in basis points
    seed: int = 42


@dataclass(frozen=True)
class BacktestParams:
    entry_delay: int = 1                 # candles between an entry signal and its fill
    fill_at: Literal["close", "open"] = "close"   # the delayed candle's close, or its open
    cancel_if_signal_gone: bool = True   # drop a delayed entry unless the signal still holds
    exchange_stop_pct: float = 0.03      # the on-exchange stop, this far from the entry price
    separate_accounts: bool = False      # each symbol on its own account (the loop shares one)
    require_funding: bool = False        # an hour without a funding rate is an error, not zero


@dataclass(frozen=True)
class StrategyParams:
    """Everything a run of the strategy depends on besides its data: the config sections that
    the trade loop, a backtest, a sweep and a walk-forward share (Config is one of these)."""

    indicators: IndicatorParams = IndicatorParams()
    signals: SignalParams = SignalParams()
    risk: RiskParams = RiskParams()
    costs: CostParams = CostParams()
    regime: RegimeConfig = RegimeConfig()
    backtest: BacktestParams = BacktestParams()

    @classmethod
    def from_config(cls, cfg) -> "StrategyParams":
        """The strategy's part of a Config, alone (it pickles small, compares by value)."""
        from dataclasses import fields
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})
