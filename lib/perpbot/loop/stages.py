"""Running a tick's stages as child processes: one process group per tick, owned by the loop.

Each stage asks the kernel to kill it when the loop dies (perpbot.procs), so a SIGKILLed loop
leaves nothing running; the group lets the loop end a tick it abandons (on SIGTERM) at once.
Each stage's stderr is kept, to be logged when the tick ends with the level its outcome calls for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from ..procs import child_env
from ..stage import START_ENV

BIN = Path(__file__).resolve().parents[3] / "bin"
ABANDON_S = 2.0             # after a stop request, how long a running tick may still take


class StageGroup:
    """The processes of one tick, started with `spawn` and ended together. A group started
    ahead (`ahead=True`) has its stages wait, imported and configured, until `go()`."""

    def __init__(self, config_path: Path, ahead: bool = False):
        self.config_path = config_path
        self.env = child_env(PERPBOT_LINE_BUFFERED="1")
        self.start_r = self.start_w = None
        if ahead:
            self.start_r, self.start_w = os.pipe()
            self.env[START_ENV] = str(self.start_r)
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.stderr: dict[str, list[bytes]] = {}
        self.threads: list[threading.Thread] = []
        self.pgid: int | None = None

    def spawn(self, name: str, args: list[str], stdin) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, str(BIN / name), *args, "--config",
                              str(self.config_path)], stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env,
                             pass_fds=() if self.start_r is None else (self.start_r,),
                             process_group=0 if self.pgid is None else self.pgid)
        if self.pgid is None:
            self.pgid = p.pid
        self.stderr[name] = lines = []
        self.thread(_drain, p.stderr, lines)
        self.procs.append((name, p))
        return p

    def go(self) -> None:
        """Start the stages that wait for it (one byte each)."""
        if self.start_w is not None:
            os.write(self.start_w, b"g" * len(self.procs))
            self._close_start()

    def _close_start(self) -> None:
        for fd in (self.start_r, self.start_w):
            if fd is not None:
                os.close(fd)
        self.start_r = self.start_w = None

    def thread(self, fn, *args) -> threading.Thread:
        th = threading.Thread(target=fn, args=args, daemon=True)
        th.start()
        self.threads.append(th)
        return th

    def wait(self, names, deadline: float, stop: threading.Event) -> dict[str, int]:
        """Exit codes of the named stages. Past the deadline, or ABANDON_S after `stop` is set,
        the whole group is killed and what is left exits with -9."""
        procs = [(n, p) for n, p in self.procs if n in names]
        done = threading.Event()

        def waiter():
            for _, p in procs:
                p.wait()
            done.set()
        threading.Thread(target=waiter, daemon=True).start()
        stop_at = None
        while not done.wait(0.05):
            now = time.monotonic()
            if stop.is_set() and stop_at is None:
                stop_at = now
            if now > deadline or (stop_at is not None and now - stop_at > ABANDON_S):
                self.kill()
                done.wait(5)
                break
        return {n: p.wait() for n, p in procs}

    def kill(self) -> None:
        self._close_start()
        if self.pgid is not None:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def finish(self) -> None:
        """Wait for the reader threads (their pipes are closed once the processes are gone)."""
        for th in self.threads:
            th.join(timeout=5)


def _drain(src, out: list) -> None:
    for line in src:
        out.append(line)
    src.close()


def relay(src, dst, seen: list) -> None:
    """Pass emit-signals' records to risk-gate, keeping the signals for get_state."""
    try:
        for line in src:
            try:
                rec = orjson.loads(line)
                if isinstance(rec, dict) and rec.get("type") == "signal":
                    seen.append(rec)
            except orjson.JSONDecodeError:
                pass
            dst.write(line)
            dst.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass
    finally:
        for f in (dst, src):
            try:
                f.close()
            except (BrokenPipeError, ValueError, OSError):
                pass


def collect(src, out: list) -> None:
    """Every record a stage writes to stdout."""
    for line in src:
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    src.close()


def feed(dst, records: list[dict]) -> None:
    """Write records to a stage's stdin and close it."""
    try:
        dst.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
    except (BrokenPipeError, ValueError, OSError):
        pass
    finally:
        try:
            dst.close()
        except (BrokenPipeError, ValueError, OSError):
            pass


def last_error(lines) -> str:
    """The last error line a stage wrote (its message), or its last line of any kind."""
    msgs = []
    for raw in lines or []:
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            rec = {"level": "error", "msg": raw.decode(errors="replace").strip()}
        if isinstance(rec, dict) and rec.get("msg"):
            msgs.append((rec.get("level") in ("error", "critical"), str(rec["msg"])))
    errors = [m for e, m in msgs if e]
    return (errors or [m for _, m in msgs] or ["no message"])[-1][:300]
