"""Helpers for the trade-loop tests: a stepped hl-sim clock, the loop's log, its processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import orjson
import requests

from conftest import write_config


def wait_for(pred, timeout=30.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out")


def set_clock(url: str, t: int | None = None, speed: float | None = None) -> dict:
    body = {k: v for k, v in (("time", t), ("speed", speed)) if v is not None}
    return requests.post(url + "/sim/clock", json=body, timeout=5).json()


def sim_time(url: str) -> int:
    return requests.get(url + "/sim/time", timeout=5).json()["time"]


def log_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            pass
    return out


def ticks(path: Path) -> list[int]:
    return [r["close"] for r in log_rows(path) if r.get("msg") == "tick"]


def loop_processes(config_path) -> list[int]:
    """Pids of processes started with this config (the loop and its stages)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().split(") ")[-1][0]
        except OSError:
            continue
        if state != "Z" and str(config_path).encode() in cmd:
            pids.append(int(proc.name))
    return pids


def kill_all(config_path) -> None:
    for pid in loop_processes(config_path):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def loose_config(tmp_path, url, db="perpbot.db", **extra):
    """Loose thresholds and a narrow band, so that a few dozen one-minute candles see trades."""
    sections = dict(symbols=["ETH"],
                    data={"db_path": db, "timeframes": ["1m"], "history_days": 1.0},
                    strategy={"timeframe": "1m"},
                    indicators={"bb_k": 1.0},
                    signals={"entry_z": 1.0, "rsi_overbought": 55.0, "rsi_oversold": 45.0,
                             "adx_max": 100.0, "exit_z": 0.5},
                    risk={"cooldown_minutes": 3.0, "timeout_hours": 0.25})
    sections.update(extra)
    return write_config(tmp_path, url, **sections)


def backfilled_loop(sim, tmp_path, speed: str = "20", stderr=None, **sections):
    """hl-sim with a synthetic ETH at `speed`, a config on it (sections override keys), a
    backfill, and a running supervise: (sim, config path, the loop's Popen)."""
    import subprocess

    from conftest import popen, run
    s = sim("--synthetic", "ETH", "--history-days", "2", "--speed", speed)
    cfg = write_config(tmp_path, s.url, symbols=["ETH"],
                       **{"data": {"history_days": 1.0}, **sections})
    assert run("backfill", "--config", cfg).returncode == 0
    p = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
              stderr=stderr if stderr is not None else subprocess.DEVNULL)
    return s, cfg, p
