"""Start and stop hl-sim as a child process (for the demo, the benchmark and dry runs)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(__file__).resolve().parents[2] / "bin"


class SimProcess:
    def __init__(self, *args: str, stderr=subprocess.DEVNULL):
        self.proc = subprocess.Popen([sys.executable, str(BIN / "hl-sim"), *args],
                                     stdout=subprocess.PIPE, stderr=stderr)
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http://"):
            err = self.proc.stderr.read().decode() if stderr == subprocess.PIPE else ""
            self.stop()
            raise RuntimeError(f"hl-sim did not start: {err.strip()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_tool(name: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BIN / name), *args], **kw)
