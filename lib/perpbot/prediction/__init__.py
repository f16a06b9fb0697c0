"""Prediction-market sources: one adapter per venue behind one small interface.

An adapter turns one configured market into a Reading: the probability of its Yes outcome, or no
probability and the reason it was skipped (closed, inactive, malformed, out of range). A market
that cannot be reached raises TemporaryFailure; the poller records it as unreachable. A skipped
or unreachable market never enters the combined score.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    source: str                 # polymarket or kalshi
    market_id: str              # the configured slug, condition id or ticker
    category: str               # war_risk or rate_change
    weight: float
    t: int                      # when it was read, epoch ms
    probability: float | None   # Yes probability in [0, 1], None when skipped
    status: str                 # ok, skipped or unreachable
    reason: str = ""


class SourceError(Exception):
    """A response that cannot be read as the venue documents it (the reason is the message)."""


def check_probability(p, what: str) -> float:
    """A probability as a float in [0, 1], or SourceError naming what was wrong."""
    try:
        x = float(p)
    except (TypeError, ValueError):
        raise SourceError(f"{what}: not a number: {p!r}") from None
    if not 0.0 <= x <= 1.0:
        raise SourceError(f"{what}: {x} is outside 0..1")
    return x
