"""Risk decisions, pure functions of their arguments (no clock, no I/O): sizing, the position
exits (capital stop, timeout), the entry checks and the losing-weeks count, one signal at a time.

Sizing: notional (quote) = capital x margin_usage x leverage x the regime's size multiplier;
size (base) = notional / price, rounded DOWN to the exchange's lot (10^-szDecimals), so an order
never exceeds the budget. A size that rounds to zero, or an order under the exchange's $10
minimum, is no order at all (0).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

from .execution.costs import STOP_EXITS
from .params import RegimeConfig, RiskParams
from .rows import Position
from .regime import size_multiplier
from .timeutil import DAY_MS, HOUR_MS, MINUTE_MS
from . import records

MIN_NOTIONAL = 10.0     # the exchange rejects orders under $10


def floor_to_lot(size: float, sz_decimals: int) -> float:
    """Round a base size down to the lot 10^-sz_decimals (a hair of float error forgiven)."""
    scale = 10 ** sz_decimals
    return math.floor(size * scale + 1e-9) / scale


def entry_size(capital: float, price: float, sz_decimals: int, *, margin_usage: float = 0.5,
               leverage: float = 3.0, multiplier: float = 1.0) -> float:
    """Base size of a new position (see the module docstring); 0 when it cannot be an order."""
    if price <= 0 or capital <= 0 or multiplier <= 0:
        return 0.0
    notional = capital * margin_usage * leverage * multiplier
    size = floor_to_lot(notional / price, sz_decimals)
    return size if size * price >= MIN_NOTIONAL else 0.0


# the risk gate -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RiskState:
    """What the gate knows: open positions, equity (capital + realized PnL), today's realized
    PnL (negative is a loss; today starts 00:00 UTC), the cooldown, pause and halt flags."""

    positions: dict = field(default_factory=dict)
    equity: float = 10_000.0
    realized_today: float = 0.0
    day: int = 0                        # start of the UTC day realized_today belongs to
    cooldown_until: int | None = None
    paused: bool = False
    halted: bool = False


def state_of(ledger, now: int, capital: float) -> RiskState:
    """The gate's view of an account at `now` from what its ledger says (store.Ledger): equity
    is capital plus every realized PnL, and no more than the exchange's account value where the
    ledger knows it (live: risk.capital is then a cap); today is the UTC day of `now`."""
    day = now - now % DAY_MS
    equity = capital + sum(pnl for _, pnl in ledger.closes)
    if ledger.account_value is not None:
        equity = min(equity, ledger.account_value)
    return RiskState(
        positions={p.symbol: p for p in ledger.positions},
        equity=equity,
        realized_today=sum(pnl for t, pnl in ledger.closes if day <= t <= now), day=day,
        cooldown_until=ledger.cooldown_until, paused=ledger.paused, halted=ledger.halted)


def cloid(symbol: str, t: int, action: str) -> str:
    """The client order id of the intent for (symbol, candle time, action): the same every time
    a tick is run again, so an order is never placed twice."""
    digest = hashlib.sha256(f"{symbol}|{t}|{action}".encode()).hexdigest()
    return "0x" + digest[:32]


def unrealized(pos: Position, price: float) -> float:
    sign = 1.0 if pos.side == "long" else -1.0
    return sign * (price - pos.price) * pos.size


def capital_stop_distance(equity: float, size: float, p: RiskParams) -> float:
    """How far the price may move against a position of `size` before the capital stop."""
    return p.capital_stop_pct * equity / size


def timeout_at(entry_t: int, p: RiskParams) -> int:
    """When a position entered at entry_t times out (ms)."""
    return entry_t + int(p.timeout_hours * HOUR_MS)


def position_exit(pos: Position, price: float, now: int, state: RiskState, p: RiskParams) -> str | None:
    """capital_stop once the position's loss reaches capital_stop_pct of equity; timeout once it
    has been held timeout_hours; else None."""
    if -unrealized(pos, price) >= p.capital_stop_pct * state.equity:
        return "capital_stop"
    if now >= timeout_at(pos.t, p):
        return "timeout"
    return None


def roll_day(state: RiskState, now: int) -> RiskState:
    """Today's realized PnL starts again at 00:00 UTC."""
    day = now - now % DAY_MS
    return state if day == state.day else replace(state, day=day, realized_today=0.0)


def entry_refusal(state: RiskState, now: int, level: str, p: RiskParams) -> str | None:
    """The first check that refuses a new entry, or None. Exits never pass through here."""
    if state.paused:
        return "paused"
    if state.halted:
        return "losing_weeks_halt"
    if level == "CRISIS":
        return "regime_crisis"
    if len(state.positions) >= p.max_positions:
        return "max_positions"
    if -state.realized_today >= p.daily_loss_cap_pct * state.equity:
        return "daily_loss_cap"
    if state.cooldown_until is not None and now < state.cooldown_until:
        return "cooldown"
    return None


def gate(signal: dict, now: int, state: RiskState, p: RiskParams, regime_cfg: RegimeConfig,
         sz_decimals: int) -> tuple[list[dict], RiskState]:
    """The records one signal yields (intents, rejections) and the state after them.

    `now` is the decision time (the candle's close). A position is checked for the capital stop
    and the timeout first, then for the signal's own exit; a flat symbol may enter if every
    check passes, sized by `entry_size` with the regime's multiplier.
    """
    state = roll_day(state, now)
    symbol, t, price = signal["symbol"], signal["t"], signal["price"]
    pos = state.positions.get(symbol)
    out: list[dict] = []
    if pos is not None:
        reason = position_exit(pos, price, now, state, p)
        if reason is None and signal["action"] == "CLOSE":
            reason = signal.get("exit") or "signal"
        if reason is not None:
            stop = reason in STOP_EXITS
            out.append(intent(symbol, t, now, "close", pos.side, pos.size, price, reason,
                              signal.get("regime", "NORMAL"), stop))
            positions = {k: v for k, v in state.positions.items() if k != symbol}
            cooldown = now + int(p.cooldown_minutes * MINUTE_MS) if stop else state.cooldown_until
            state = replace(state, positions=positions, cooldown_until=cooldown)
        return out, state
    if signal["action"] not in ("LONG", "SHORT"):
        return out, state
    level = signal.get("regime", "NORMAL")
    refusal = entry_refusal(state, now, level, p)
    size = 0.0
    if refusal is None:
        size = entry_size(state.equity, price, sz_decimals, margin_usage=p.margin_usage,
                          leverage=p.leverage, multiplier=size_multiplier(level, regime_cfg))
        if size <= 0:
            refusal = "size_below_minimum"
    if refusal is not None:
        out.append(records.make("rejected", symbol=symbol, t=t,
                                action=signal["action"], reason=refusal, regime=level))
        return out, state
    side = signal["action"].lower()
    out.append(intent(symbol, t, now, "open", side, size, price, signal.get("reason", ""), level))
    positions = {**state.positions, symbol: Position(symbol, side, size, price, now)}
    return out, replace(state, positions=positions)


def intent(symbol, t, now, action, side, size, price, reason, regime, stop_loss=False) -> dict:
    return records.make("intent", symbol=symbol, t=t, decided_at=now,
                        action=action, side=side, size=size, price=price, reason=reason,
                        cloid=cloid(symbol, t, action), regime=regime, stop_loss=stop_loss)


def losing_weeks(closes: list[tuple[int, float]], now: int, weeks: int) -> int:
    """How many of the consecutive 7-day windows ending at `now` (now-7d..now, the 7 days
    before that, ...) lost money, counting back until one did not. `closes` are (t, pnl)."""
    count = 0
    end = now
    while count < 520:
        start = end - 7 * DAY_MS
        window = [pnl for t, pnl in closes if start <= t < end]
        if not window or sum(window) >= 0:
            break
        count += 1
        end = start
    return count
