"""The prediction-market regime: scores, classification, the fail-safe, and the as-of lookup
that every decision (emit-signals, risk-gate, the backtest) uses to ask "which regime was in
force at time t". All pure functions of their arguments; no clock reads.

Scores: war_risk is the weighted mean Yes probability of the war_risk markets. rate_change is
(the weighted mean probability of a rate cut - 0.5) x 2, in [-1, +1]: +1 is a certain cut, -1 a
certain hike (a market whose Yes is a hike counts 1 - p). Cuts favour longs.

Classification, first match wins: CRISIS when war_risk >= crisis_war_risk (0.7); HIGH_RISK when
war_risk >= high_risk_war_risk (0.4); DOVISH when rate_change > rate_threshold (+0.3); HAWKISH
when rate_change < -rate_threshold; else NORMAL.

Fail-safe: a poll is fresh when every configured category has at least one market read. When a
poll is not fresh, the last fresh level holds until it is staleness_minutes old; after that the
level is fail_safe_level (HIGH_RISK), never NORMAL unless configured so.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .params import RegimeConfig
from .prediction import Reading
from .timeutil import MINUTE_MS, iso
from . import records


@dataclass(frozen=True)
class Regime:
    t: int                      # when it was decided (ms)
    level: str
    war_risk: float | None
    rate_change: float | None
    fresh_t: int | None         # time of the poll whose data it rests on (None: no data ever)
    reason: str
    sources: dict = field(default_factory=dict)

    def record(self) -> dict:
        return records.make("regime", t=self.t, level=self.level,
                            war_risk=self.war_risk, rate_change=self.rate_change,
                            fresh_t=self.fresh_t, reason=self.reason, sources=self.sources)


def _weighted(readings: list[Reading], value) -> float | None:
    total = sum(r.weight for r in readings)
    if not readings or total <= 0:
        return None
    return sum(value(r) * r.weight for r in readings) / total


def scores(readings: list[Reading], directions: dict[str, str]) -> tuple[float | None, float | None]:
    """(war_risk, rate_change) from the readings that have a probability."""
    ok = [r for r in readings if r.probability is not None]
    war = _weighted([r for r in ok if r.category == "war_risk"], lambda r: r.probability)
    cut = _weighted([r for r in ok if r.category == "rate_change"],
                    lambda r: r.probability if directions.get(r.market_id, "cut") == "cut"
                    else 1.0 - r.probability)
    return war, None if cut is None else (cut - 0.5) * 2.0


def classify(war_risk: float | None, rate_change: float | None, cfg: RegimeConfig) -> tuple[str, str]:
    """(level, why) from the scores; a score that is None takes no part."""
    if war_risk is not None and war_risk >= cfg.crisis_war_risk:
        return "CRISIS", f"war_risk {war_risk:.3f} >= {cfg.crisis_war_risk:g}"
    if war_risk is not None and war_risk >= cfg.high_risk_war_risk:
        return "HIGH_RISK", f"war_risk {war_risk:.3f} >= {cfg.high_risk_war_risk:g}"
    if rate_change is not None and rate_change > cfg.rate_threshold:
        return "DOVISH", f"rate_change {rate_change:+.3f} > +{cfg.rate_threshold:g}"
    if rate_change is not None and rate_change < -cfg.rate_threshold:
        return "HAWKISH", f"rate_change {rate_change:+.3f} < -{cfg.rate_threshold:g}"
    return "NORMAL", "no threshold crossed"


def size_multiplier(level: str, cfg: RegimeConfig) -> float:
    return {"CRISIS": cfg.size_crisis, "HIGH_RISK": cfg.size_high_risk}.get(level, cfg.size_other)


def decide(readings: list[Reading], previous: Regime | None, now: int, cfg: RegimeConfig) -> Regime:
    """The regime after one poll, given the last stored one (for the fail-safe)."""
    sources = {r.market_id: {"source": r.source, "category": r.category, "weight": r.weight,
                             "probability": r.probability, "status": r.status,
                             **({"reason": r.reason} if r.reason else {})} for r in readings}
    categories = {m.category for m in cfg.markets}
    if not categories:
        return Regime(now, "NORMAL", None, None, now, "no prediction markets configured", sources)
    read = {r.category for r in readings if r.probability is not None}
    war, rate = scores(readings, {m.id: m.direction for m in cfg.markets})
    if categories <= read:
        level, why = classify(war, rate, cfg)
        return Regime(now, level, war, rate, now, why, sources)
    missing = ", ".join(sorted(categories - read))
    limit = int(cfg.staleness_minutes * MINUTE_MS)
    if previous is not None and previous.fresh_t is not None and now - previous.fresh_t <= limit:
        return Regime(now, previous.level, previous.war_risk, previous.rate_change,
                      previous.fresh_t, f"no {missing} market could be read: holding "
                      f"{previous.level} from {iso(previous.fresh_t)}", sources)
    since = f"since {iso(previous.fresh_t)}" if previous and previous.fresh_t else "ever"
    return Regime(now, cfg.fail_safe_level, war, rate, previous.fresh_t if previous else None,
                  f"no {missing} market could be read and no fresh regime {since} within "
                  f"{cfg.staleness_minutes:g} min: fail-safe {cfg.fail_safe_level}", sources)


class RegimeBook:
    """Stored regimes in time order, asked for the one in force at t.

    The regime at t is the last one decided at or before t (never a later one). If its data is
    older than the staleness limit at t (the poller stopped), the fail-safe level applies. Before
    the first regime, or with none at all, the level is NORMAL and the reason says why.
    """

    def __init__(self, regimes: list[Regime], cfg: RegimeConfig):
        self.regimes = sorted(regimes, key=lambda r: r.t)
        self.times = [r.t for r in self.regimes]
        self.cfg = cfg

    @property
    def empty(self) -> bool:
        return not self.regimes

    def at(self, t: int) -> tuple[str, str]:
        """(level, reason) in force at time t (ms)."""
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return "NORMAL", ("no regime snapshots: NORMAL" if self.empty
                              else f"no regime snapshot before {iso(t)}: NORMAL")
        r = self.regimes[i]
        limit = int(self.cfg.staleness_minutes * MINUTE_MS)
        if r.fresh_t is None or t - r.fresh_t > limit:
            return self.cfg.fail_safe_level, (f"regime data stale at {iso(t)} (last fresh "
                                              f"{iso(r.fresh_t) if r.fresh_t else 'never'}): "
                                              f"fail-safe {self.cfg.fail_safe_level}")
        return r.level, r.reason
