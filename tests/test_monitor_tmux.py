"""The monitor in a real terminal (tmux) against a paper loop on hl-sim: the keys answer through
the socket, OFFLINE shows within 10 s of the loop stopping and clears within 10 s of its
return, and a resize redraws."""

import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import BIN, popen
from loophelp import backfilled_loop, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None,
                                 reason="tmux is absent (CI installs it: .ci/run)")]


class Tmux:
    def __init__(self, name: str, cmd: list[str], cols: int = 120, rows: int = 40):
        self.name = name
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(cols), "-y",
                        str(rows), " ".join(cmd)], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def resize(self, cols: int, rows: int) -> None:
        subprocess.run(["tmux", "resize-window", "-t", self.name, "-x", str(cols), "-y",
                        str(rows)], check=True)

    def wait(self, pred, timeout: float = 10.0) -> str:
        return wait_for(lambda: (lambda s: s if pred(s) else None)(self.screen()),
                        timeout=timeout, step=0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def header(screen: str) -> str:
    return " ".join(screen.splitlines()[:2])


def test_monitor_steers_the_loop_and_rides_out_its_absence(sim, tmp_path):
    s, cfg, loop = backfilled_loop(sim, tmp_path, speed="20", **{
        "indicators": {"bb_k": 1.0},
        "signals": {"entry_z": 1.0, "rsi_overbought": 55.0, "rsi_oversold": 45.0,
                    "adx_max": 100.0}})
    tm = Tmux(f"perpbot-{tmp_path.name}"[:40],
              [sys.executable, str(BIN / "monitor"), "--config", str(cfg)])
    try:
        scr = tm.wait(lambda x: " PAPER " in header(x) and "up " in header(x), timeout=30)
        assert all(f" {t} " in scr for t in ("POSITIONS", "SIGNALS", "RISK", "TRADES",
                                              "EQUITY", "LOG"))
        assert "OFFLINE" not in header(scr) and "PAUSED" not in header(scr)
        tm.keys("p")
        tm.wait(lambda x: " PAUSED " in header(x) and "paused: no new entries" in x)
        tm.keys("r")
        tm.wait(lambda x: "PAUSED" not in header(x) and "resumed" in x)
        tm.keys("e")
        tm.wait(lambda x: "EMERGENCY CLOSE" in x)
        tm.keys("Escape")
        tm.wait(lambda x: "EMERGENCY CLOSE" not in x)
        tm.keys("?")
        tm.wait(lambda x: "Nothing is sent to the loop without its key" in x)
        tm.keys("x")
        tm.wait(lambda x: "Nothing is sent" not in x)
        tm.resize(80, 24)
        tm.wait(lambda x: len(x.splitlines()) <= 24 and " PAPER " in header(x)
                and "┌ POSITIONS" in x)
        tm.resize(120, 40)
        # the loop stops: OFFLINE within 10 s, the panes keep the store's data
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=60) == 0
        t0 = time.time()
        scr = tm.wait(lambda x: " OFFLINE " in header(x), timeout=10)
        assert time.time() - t0 < 10 and "┌ TRADES" in scr
        # back: OFFLINE clears within 10 s of the loop answering
        loop = popen("supervise", "--config", cfg, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        tm.wait(lambda x: "OFFLINE" not in header(x) and " PAPER " in header(x), timeout=20)
        tm.keys("q")
        wait_for(lambda: "PERPBOT" not in tm.screen(), timeout=10)
    finally:
        tm.close()
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=60)
