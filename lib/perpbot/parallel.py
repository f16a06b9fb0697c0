"""Run pieces of one stage's work in forked children, for big batches on several cores.

fork() gives each child the parent's memory as it is (the input bytes, the arrays) without
copying; only the results come back, pickled through a pipe. The first piece runs in the parent
meanwhile. An exception in any piece is re-raised in the parent: the earliest piece's first, so
an error is reported for the first bad line, as a single process would.
"""

from __future__ import annotations

import os
import pickle
from typing import Callable, Sequence


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


class Forked:
    """fn(*args) running in a forked child; `result()` waits for it (raising what it raised)."""

    def __init__(self, fn: Callable, *args):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                                    # the child: compute, send, vanish
            os.close(r)
            try:
                out = (True, fn(*args))
            except BaseException as e:                  # noqa: BLE001 - sent to the parent
                out = (False, e)
            with os.fdopen(w, "wb") as f:
                pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
            os._exit(0)
        os.close(w)
        self.pid, self.fd = pid, r

    def outcome(self) -> tuple[bool, object]:
        with os.fdopen(self.fd, "rb") as f:
            try:
                out = pickle.load(f)
            except EOFError:
                out = (False, RuntimeError("a worker process died"))
        os.waitpid(self.pid, 0)
        return out

    def result(self):
        ok, value = self.outcome()
        if not ok:
            raise value
        return value


def fork_map(fn: Callable, pieces: Sequence[tuple]) -> list:
    """[fn(*args) for args in pieces], the first here and each other in a forked child."""
    children = [Forked(fn, *args) for args in pieces[1:]]
    try:
        results = [(True, fn(*pieces[0]))]
    except BaseException as e:                          # noqa: BLE001 - re-raised below
        results = [(False, e)]
    results += [child.outcome() for child in children]
    for ok, value in results:
        if not ok:
            raise value
    return [value for _, value in results]
