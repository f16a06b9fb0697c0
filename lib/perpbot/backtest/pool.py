"""Worker processes for sweeps and walk-forward: a ProcessPoolExecutor on the forkserver context.

Workers fork from a clean server process, not from the stage (whose signal handlers, threads and
locks a plain fork would copy: the cause of sweeps that hung after finishing). Each worker
ignores SIGINT (Ctrl-C reaches the whole process group; the parent alone answers it), dies with
the server it was forked from, and receives the run's data once, when it starts. Results come
back as each task finishes; on any exception in the parent (an interrupt included) the pending
tasks are cancelled and the workers killed at once, so nothing is left running.

The parent waits on a queue the finished futures put themselves in, never with
concurrent.futures.wait: that takes every pending future's lock in a Python loop, and an
interrupt raised in the middle of it left locks held that the executor's thread then waited on
for ever, so the interpreter could not exit (a Ctrl-C'd walk-forward that hung).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import queue
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator

from ..procs import die_with_parent

_state: dict = {}


def _init(setup: Callable, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(os.getppid())       # the fork server, which ends when this run ends
    setup(*args)


def imap_unordered(fn: Callable, items: Iterable, jobs: int, setup: Callable,
                   setup_args: tuple = ()) -> Iterator[tuple[int, object]]:
    """(index, fn(item)) for every item, as they finish; `setup(*setup_args)` runs first in
    each worker (and here, with jobs 1, where everything runs in this process)."""
    items = list(items)
    if jobs <= 1 or len(items) <= 1:
        setup(*setup_args)
        for k, item in enumerate(items):
            yield k, fn(item)
        return
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, fn.__module__])
    ex = None
    try:
        ex = ProcessPoolExecutor(min(jobs, len(items)), mp_context=ctx, initializer=_init,
                                 initargs=(setup, setup_args))
        finished: queue.SimpleQueue = queue.SimpleQueue()
        futures = {}
        for k, item in enumerate(items):
            f = ex.submit(fn, item)
            futures[f] = k
            f.add_done_callback(finished.put)
        for _ in range(len(futures)):
            f = finished.get()
            yield futures[f], f.result()
        ex.shutdown(wait=True)
    except BaseException:
        if ex is not None:
            _kill(ex)
        raise


def _kill(ex: ProcessPoolExecutor) -> None:
    procs = list((ex._processes or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except (ProcessLookupError, TypeError):
            pass
    for p in procs:
        p.join(timeout=2)
