"""Indicator rows to trading signals: one pure function, used by the live stage and the backtest.

Rules (thresholds from SignalParams, adjusted for the regime by `thresholds`):
- No signal until every indicator a rule uses is defined (NONE, "warming up").
- Holding a long: take profit once z > -exit_z (back inside the band around the mean, or past
  it); z-stop once z < -stop_z. A short mirrors it: take profit once z < exit_z; z-stop once
  z > stop_z. The z-stop counts as a stop loss for the cooldown (`Decision.stop_loss`).
  "Take profit when |z| < exit_z" alone would hold a long whose z overshot the band to +1 until
  its timeout; reverting past the mean is the profit the strategy trades for, so it counts.
- Flat: entries only while ADX < adx_max and the regime allows them (not CRISIS), and with the
  Hurst gate on, only while Hurst < hurst_max. SHORT when z > short_entry_z, RSI > overbought
  and close > upper band; LONG when z < -long_entry_z, RSI < oversold and close < lower band.
  The regime scales the band with the threshold: with the defaults (z and bands over the same 20
  candles, k = 2) "close below the lower band" IS "z < -2", so a DOVISH long threshold of 1.8
  against the unscaled band could never let anything in. The band a regime uses lies at
  mid - (long_entry_z / entry_z) x (mid - lower), and likewise above.
- Otherwise NONE. All comparisons are strict, so a value exactly at a threshold does not fire.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .params import SignalParams
from . import records

LEVELS = ("NORMAL", "DOVISH", "HAWKISH", "HIGH_RISK", "CRISIS")


@dataclass(frozen=True)
class Thresholds:
    long_entry_z: float     # enter long when z < -long_entry_z
    short_entry_z: float    # enter short when z > short_entry_z
    exit_z: float
    stop_z: float
    entries: bool           # False in CRISIS: exits only
    long_band: float = 1.0  # the lower band's distance from the mid, scaled by this
    short_band: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def thresholds(p: SignalParams, regime: str = "NORMAL") -> Thresholds:
    """The thresholds in force under a regime. HIGH_RISK raises the entry threshold and widens
    the take-profit band; DOVISH relaxes the long entry (rate cuts favour longs), HAWKISH the
    short one; CRISIS allows exits only; NORMAL changes nothing."""
    if regime not in LEVELS:
        raise ValueError(f"unknown regime {regime!r}")
    long_z = short_z = p.entry_z
    exit_z = p.exit_z
    if regime == "HIGH_RISK":
        long_z = short_z = p.high_risk_entry_z
        exit_z = p.high_risk_exit_z
    elif regime == "DOVISH":
        long_z = p.entry_z * p.dovish_long_factor
    elif regime == "HAWKISH":
        short_z = p.entry_z * p.hawkish_short_factor
    return Thresholds(long_z, short_z, exit_z, p.stop_z, regime != "CRISIS",
                      long_z / p.entry_z, short_z / p.entry_z)


@dataclass(frozen=True)
class Decision:
    action: str             # LONG, SHORT, CLOSE or NONE
    reason: str
    exit: str | None = None     # take_profit or z_stop for a CLOSE
    stop_loss: bool = False     # a z-stop: starts the cooldown

    def as_dict(self) -> dict:
        return asdict(self)


def _defined(*xs) -> bool:
    for x in xs:                # a loop, not all(...): this runs on every backtest candle
        if x is None or math.isnan(x):
            return False
    return True


def decide(row: dict, position: str | None, th: Thresholds, p: SignalParams) -> Decision:
    """The signal for one indicator row. `position` is None (flat), "long" or "short"."""
    z = row.get("z")
    if position is not None:
        if not _defined(z):
            return Decision("NONE", "z undefined: holding")
        if position == "long":
            if z < -th.stop_z:
                return Decision("CLOSE", f"z_stop: z={z:.3f} < -{th.stop_z:g}", "z_stop", True)
            if z > -th.exit_z:
                return Decision("CLOSE", f"take_profit: z={z:.3f} > -{th.exit_z:g}", "take_profit")
            return Decision("NONE", f"holding long: z={z:.3f}")
        if z > th.stop_z:
            return Decision("CLOSE", f"z_stop: z={z:.3f} > {th.stop_z:g}", "z_stop", True)
        if z < th.exit_z:
            return Decision("CLOSE", f"take_profit: z={z:.3f} < {th.exit_z:g}", "take_profit")
        return Decision("NONE", f"holding short: z={z:.3f}")

    rsi, adx, close = row.get("rsi"), row.get("adx"), row.get("close")
    mid, upper, lower, hurst = row.get("bb_mid"), row.get("bb_upper"), row.get("bb_lower"), row.get("hurst")
    needed = (z, rsi, adx, close, mid, upper, lower) + ((hurst,) if p.hurst_gate else ())
    if not _defined(*needed):
        return Decision("NONE", "warming up")
    upper = mid + th.short_band * (upper - mid)
    lower = mid - th.long_band * (mid - lower)
    short = z > th.short_entry_z and rsi > p.rsi_overbought and close > upper
    long = z < -th.long_entry_z and rsi < p.rsi_oversold and close < lower
    if not (short or long):
        return Decision("NONE", f"no entry: z={z:.3f} rsi={rsi:.1f}")
    side = "SHORT" if short else "LONG"
    if short:
        band = "bb_upper" if th.short_band == 1 else f"bb_upper x{th.short_band:g}"
        why = (f"z={z:.3f} > {th.short_entry_z:g}, rsi={rsi:.1f} > {p.rsi_overbought:g}, "
               f"close > {band}")
    else:
        band = "bb_lower" if th.long_band == 1 else f"bb_lower x{th.long_band:g}"
        why = (f"z={z:.3f} < -{th.long_entry_z:g}, rsi={rsi:.1f} < {p.rsi_oversold:g}, "
               f"close < {band}")
    if not th.entries:
        return Decision("NONE", f"{side} blocked: CRISIS allows exits only ({why})")
    if not adx < p.adx_max:
        return Decision("NONE", f"{side} blocked: adx={adx:.1f} >= {p.adx_max:g} ({why})")
    if p.hurst_gate and not hurst < p.hurst_max:
        return Decision("NONE", f"{side} blocked: hurst={hurst:.3f} >= {p.hurst_max:g} ({why})")
    return Decision(side, f"{why}, adx={adx:.1f} < {p.adx_max:g}"
                    + (f", hurst={hurst:.3f} < {p.hurst_max:g}" if p.hurst_gate else ""))


# screens over whole columns (numpy arrays or scalars): where decide() could act -------------------
# The backtest's fast path steps only the candles these let through. They are made from the same
# thresholds as decide(), under every regime, and never narrower (a test holds them to that).

def entry_screen(cols, p: SignalParams):
    """True where some regime's decide() could enter from flat (the regime aside). `cols`: an
    indicator row or columns (z, rsi, adx, hurst, close, bb_mid, bb_upper, bb_lower). Each side
    takes its lowest threshold and its narrowest band of any regime that allows entries, in the
    same arithmetic as decide() (rounding is monotone, so nothing decide() takes is lost)."""
    open_levels = [th for th in (thresholds(p, lv) for lv in LEVELS) if th.entries]
    long_z = min(th.long_entry_z for th in open_levels)
    short_z = min(th.short_entry_z for th in open_levels)
    long_band = min(th.long_band for th in open_levels)
    short_band = min(th.short_band for th in open_levels)
    z, rsi, close, mid = cols["z"], cols["rsi"], cols["close"], cols["bb_mid"]
    calm = cols["adx"] < p.adx_max
    if p.hurst_gate:
        calm = calm & (cols["hurst"] < p.hurst_max)
    lower = mid - long_band * (mid - cols["bb_lower"])
    upper = mid + short_band * (cols["bb_upper"] - mid)
    return calm & (((z < -long_z) & (rsi < p.rsi_oversold) & (close < lower)) |
                   ((z > short_z) & (rsi > p.rsi_overbought) & (close > upper)))


def exit_screen(z, side: str, p: SignalParams):
    """True where some regime's decide() could close a position on this side."""
    widest = max(thresholds(p, lv).exit_z for lv in LEVELS)
    stop = min(thresholds(p, lv).stop_z for lv in LEVELS)
    if side == "long":
        return (z > -widest) | (z < -stop)
    return (z < widest) | (z > stop)


def signal_record(row: dict, decision: Decision, th: Thresholds, regime: str) -> dict:
    rec = records.make("signal", symbol=row["symbol"], tf=row["tf"], t=row["t"],
                       action=decision.action, reason=decision.reason, price=row["close"],
                       regime=regime, thresholds=th.as_dict())
    if decision.exit:
        rec["exit"] = decision.exit
        rec["stop_loss"] = decision.stop_loss
    return rec
