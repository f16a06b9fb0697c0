"""The loop's state for get_state (status, the monitor). It never calls the exchange, so it
answers during an outage; the clock is the last reading carried on."""

from __future__ import annotations

import os
import time

from .. import risk
from ..execution import costs
from ..regime import RegimeBook
from ..store import Store
from ..timeutil import HOUR_MS, iso


def positions(st: Store, rs, mids: dict, now: int) -> tuple[list[dict], float]:
    """Open positions marked at the mids, with funding accrued; and their total unrealized PnL
    (funding included)."""
    out, unreal = [], 0.0
    for p in rs.positions.values():
        mid = mids.get(p.symbol)
        u = risk.unrealized(p, mid) if mid else None
        rates = costs.hourly_rates(st.funding(p.symbol, p.t, now + HOUR_MS))
        funding, _ = costs.funding_over(p.side, p.size, p.t, now, rates,
                                        lambda h, p=p, mid=mid: mid or p.price)
        unreal += (u or 0.0) + funding
        out.append({"symbol": p.symbol, "side": p.side, "size": p.size, "entry": p.price,
                    "entry_t": p.t, "mid": mid, "unrealized": u, "funding": funding})
    return out, unreal


def state(loop) -> dict:
    cfg, ticks, feed, health = loop.cfg, loop.ticks, loop.feed, loop.health
    now = loop.clock.estimate_ms()
    with Store.open_readonly(cfg.db_path) as st:
        rs = risk.state_of(st.ledger(loop.mode), now, cfg.risk.capital)
        open_positions, unreal = positions(st, rs, feed.mids if feed else {}, now)
        level, why = RegimeBook(st.regimes(), cfg.regime).at(now)
        slippage = st.slippage_stats(loop.mode)
    return {
        "mode": loop.mode, "live": loop.live, "pid": os.getpid(), "uptime_s": round(time.time() - loop.started, 1),
        "clock": now, "clock_iso": iso(now), "timeframe": cfg.strategy.timeframe,
        "exchange": health.describe(), "exchange_unreachable_since": health.down_since,
        "exchange_error": health.reason or None,
        "equity": rs.equity + unreal, "realized_equity": rs.equity, "positions": open_positions,
        "last_signals": ticks.last_signals, "last_fills": list(ticks.last_fills)[-5:],
        "risk": {"paused": rs.paused, "halted": rs.halted, "cooldown_until": rs.cooldown_until,
                 "realized_today": rs.realized_today,
                 "daily_loss_cap": cfg.risk.daily_loss_cap_pct * rs.equity,
                 "max_positions": cfg.risk.max_positions, "slippage": slippage},
        "last_tick": ticks.last_tick,
        "regime": {"level": level, "reason": why, "last_poll": loop.regime},
        "feed": {"connected": bool(feed and feed.connected),
                 "age_s": feed.age_s() if feed else None,
                 "reconnects": feed.reconnects if feed else 0,
                 "mids": {k: v for k, v in (feed.mids if feed else {}).items()
                          if k in cfg.symbols}},
        "errors": list(loop.events.errors),
    }
