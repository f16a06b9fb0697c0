"""Helpers for the live-execution tests: a market file of our own making (so prices are known
in advance), hl-sim on it with a stopped clock and a registered account, and a LiveTrader in
this process whose every wait moves hl-sim's clock on (deterministic, and no wall time spent)."""

from __future__ import annotations

import orjson
import requests
from eth_account import Account

from conftest import write_config
from loophelp import set_clock, sim_time
from perpbot import config
from perpbot.execution.live import connect
from perpbot.store import Store

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
ME = Account.from_key(KEY).address.lower()
T0 = 1_767_225_600_000          # 2026-01-01 00:00 UTC
MIN = 60_000


def market_file(path, closes: list[float], coin: str = "TEST", t0: int = T0):
    """1-minute candles in candleSnapshot shape: each opens at the last close and moves in a
    straight line to its own close (hl-sim's price inside a candle)."""
    rows, prev = [], closes[0]
    for k, c in enumerate(closes):
        t = t0 + k * MIN
        rows.append({"t": t, "T": t + MIN - 1, "s": coin, "i": "1m", "o": str(prev),
                     "c": str(c), "h": str(max(prev, c)), "l": str(min(prev, c)), "v": "100",
                     "n": 10})
        prev = c
    path.write_bytes(orjson.dumps(rows))
    return path


class Log:
    """Collects what the trader says, by level."""

    def __init__(self):
        self.lines: list[tuple[str, str, dict]] = []

    def _add(self, level, msg, **f):
        self.lines.append((level, msg, f))

    def debug(self, msg, **f):
        self._add("debug", msg, **f)

    def info(self, msg, **f):
        self._add("info", msg, **f)

    def warning(self, msg, **f):
        self._add("warning", msg, **f)

    def error(self, msg, **f):
        self._add("error", msg, **f)

    def critical(self, msg, **f):
        self._add("critical", msg, **f)

    def msgs(self, level=None):
        return [m for lv, m, _ in self.lines if level in (None, lv)]


class Stepper:
    """A sleep that moves hl-sim's stopped clock on by `step_ms` instead of waiting, and the
    wall clock the trader reads, kept in step with it."""

    def __init__(self, url: str, step_ms: int = 5_000):
        self.url, self.step_ms = url, step_ms
        self.now = sim_time(url)

    def sleep(self, _s: float) -> None:
        self.now += self.step_ms
        set_clock(self.url, self.now)

    def wall_ms(self) -> int:
        return self.now

    def to(self, t: int) -> None:
        self.now = t
        set_clock(self.url, t)


def live_setup(sim, tmp_path, closes, start_minute: int, *sim_args, **sections):
    """hl-sim on a market of `closes` stopped at minute `start_minute`, a config (testnet,
    the key in the environment) and a LiveTrader on it: (sim, cfg, trader, stepper, log)."""
    f = market_file(tmp_path / "TEST.json", closes)
    s = sim("--market", f"{f}:TEST", "--start", str(T0 + start_minute * MIN), "--account",
            f"{ME}=100000", *sim_args)
    set_clock(s.url, speed=0)
    sections = {"exchange": {"network": "testnet"},
                "execution": {"entry_timeout_s": 300.0}, **sections}
    path = write_config(tmp_path, s.url, symbols=["TEST"], **sections)
    cfg = config.load(path, environ={"HL_PRIVATE_KEY": KEY})
    store = Store.open(cfg.db_path)
    log = Log()
    step = Stepper(s.url)
    trader = connect(cfg, store, log)
    trader.sleep, trader.wall_ms = step.sleep, step.wall_ms
    return s, cfg, trader, step, log


def info(url: str, rtype: str, **body):
    return requests.post(url + "/info", json={"type": rtype, "user": ME, **body}, timeout=5).json()


def sim_stats(url: str) -> dict:
    return requests.get(url + "/sim/stats", timeout=5).json()
