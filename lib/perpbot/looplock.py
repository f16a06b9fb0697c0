"""One trade loop per store: an exclusive flock on `perp-bot.lock` beside the database.

The kernel releases the lock when its holder dies, however it dies, so a SIGKILLed loop never
blocks the next one and no stale file needs clearing by hand. The holder writes its pid into the
file so a refused second loop can name the one that runs. The descriptor is not inherited by
child processes (PEP 446), so a stage never holds the lock of the loop that started it.

Tools that write the paper or live ledger outside the loop (`execute --mode paper|live`,
`risk-gate`) take the same lock for their run, or run as a stage of the loop holding it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import PerpbotError

LOCK_NAME = "perp-bot.lock"


class LoopRunning(PerpbotError):
    """Another process holds the store's loop lock."""

    def __init__(self, msg: str, pid: int | None = None):
        super().__init__(msg, **({} if pid is None else {"pid": pid}))
        self.pid = pid


def lock_path(db_path: str | Path) -> Path:
    return Path(db_path).parent / LOCK_NAME


class LoopLock:
    """The lock of the store at `db_path`; `acquire()` raises LoopRunning if it is held."""

    def __init__(self, db_path: str | Path):
        self.path = lock_path(db_path)
        self.fd: int | None = None

    def acquire(self) -> "LoopLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = holder_pid(self.path)
            who = f"pid {pid}" if pid else "pid unknown"
            raise LoopRunning(f"a trade loop already runs on this store ({who}); "
                              f"lock {self.path}", pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)           # closing the descriptor drops the lock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def holder_pid(path: Path) -> int | None:
    """The pid the holder wrote (None if not written yet or unreadable)."""
    for _ in range(20):
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        # the holder has the lock but has not written its pid yet: a moment
        time.sleep(0.01)
    return None


def guard_ledger(db_path: str | Path) -> LoopLock | None:
    """For a tool about to write a paper/live ledger: take the loop lock for this process, or
    go on without it when this process is a stage of the loop that holds it. Raises LoopRunning
    when another process holds it (the trade loop owns the ledger: use `status --command`)."""
    lock = LoopLock(db_path)
    try:
        return lock.acquire()
    except LoopRunning as e:
        if e.pid is not None and e.pid == os.getppid():
            return None
        raise LoopRunning(f"{e.msg}: the loop owns the ledger; send commands through it "
                          f"(status --command ...)", e.pid) from None
