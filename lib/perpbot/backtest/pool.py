"""Where sweeps and walk-forward run their tasks: one small interface over Dask distributed.

- `jobs 1`: in this process, one task after another (for debugging; no Dask).
- `scheduler "local"` (the default): a LocalCluster of worker processes, one per job, started
  for the run and closed after it.
- `scheduler "tcp://HOST:8786"`: an existing cluster (`dask scheduler`, `dask worker ...` on
  any machines that have perpbot installed); nothing of it is closed.

The run's data (candle and funding arrays, the config) goes to the workers once, scattered with
broadcast, not once per task; a worker calls `setup` with it once per run, then the task
function for each item. Items go to Dask a few at a time (about TASKS_PER_WORKER tasks for each
worker's thread), not one task each: every Dask task costs its worker a few milliseconds of
messages besides the work (a 100 x 100k-candle sweep ran 15% slower one item a task), and Dask's
own advice is tasks well above 100 ms. Workers never open the store. Results come back as tasks
finish, each with its index, so the caller puts them in order; a lost worker's tasks are run
again elsewhere (Dask reschedules them).

The stage's Ctrl-C raises in the main thread at any instant. One thread of the executor's own
does everything that talks to Dask (connect, scatter, submit, collect, cancel, close), one job
after another; the caller's thread only hands it jobs and waits on queues and events, so an
interrupt never lands inside Dask's locks (an interrupt inside concurrent.futures.wait once left
locks held and the process could not exit) and is never swallowed by Dask's closing (a Ctrl-C
while the cluster closed after a run used to be). On any exception the run's tasks are
cancelled and a local cluster closed at once. Local workers ignore SIGINT (the parent alone
answers it) and die with this process.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import uuid
from typing import Callable, Iterable, Iterator

from ..errors import UsageError

_state: dict = {}
_DONE = object()
TASKS_PER_WORKER = 10       # enough for the workers to even out at the end, few enough to be cheap

# a local cluster's housekeeping, made rare: its event loops (the scheduler's in this process,
# each worker's beside its task) take the GIL from the tasks at every tick. Defaults: a tick every
# 20 ms, a stack sample of the running task every 10 ms (the dashboard's profile page, which a
# run of ours has no one to show), a system sample every 500 ms. A cluster of `dask worker`s that
# someone started keeps its own settings.
QUIET_WORKERS = {"distributed.admin.tick.interval": "1s",
                 "distributed.worker.profile.enabled": False,
                 "distributed.admin.system-monitor.interval": "5s"}


def _task(fn: Callable, setup: Callable, run_key: str, args, items: list) -> list:
    """In a worker: the run's setup once (its data is already here), then fn of each item."""
    if _state.get("run") != run_key:
        setup(*args)
        _state["run"] = run_key
    return [fn(item) for item in items]


def _same_objects(a: tuple | None, b: tuple) -> bool:
    """Whether two calls' setup arguments are the very same objects (a caller builds a new
    tuple of them for each call: Optuna's batches, a sweep's neighbours after its grid)."""
    return a is not None and len(a) == len(b) and all(x is y for x, y in zip(a, b))


def dask_setup(worker) -> None:
    """Dask's preload hook, in each local worker process: Ctrl-C is the parent's to answer; die
    with the parent; say nothing on the stage's stderr, which it shares (a task's error comes
    back as its row)."""
    from ..procs import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(os.getppid())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


class Executor:
    """A run's place for tasks (see the module's docstring); a context manager."""

    CLOSE_WAIT_S = 10           # a local cluster closes in ~0.2 s; past this the process goes on

    def __init__(self, jobs: int = 1, scheduler: str = "local"):
        if scheduler != "local" and not scheduler.startswith("tcp://"):
            raise UsageError(f"--scheduler {scheduler}: expected local or tcp://HOST:PORT")
        self.jobs, self.scheduler = max(1, jobs), scheduler
        self.client = self.cluster = None
        self._sent = None               # (setup_args, its future on the workers, its key)
        self._stop: threading.Event | None = None      # the call under way's
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = None
        if not self.in_process:
            # started here, once: a second thread serving the same jobs could only come from a
            # start that an interrupt cut short, and then the constructor raised
            self._thread = threading.Thread(target=self._serve, name="perpbot-dask", daemon=True)
            self._thread.start()

    @property
    def in_process(self) -> bool:
        return self.jobs <= 1 and self.scheduler == "local"

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _serve(self) -> None:
        """The Dask thread: run each job handed to it, until told to end (None)."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args = job
            fn(*args)

    def _connect(self) -> None:
        if self.client is not None:
            return
        import dask
        from dask.distributed import Client, LocalCluster

        # the stage's stderr is its one-line-per-problem channel (the workers share it): Dask's
        # own log lines (shutdown chatter after a Ctrl-C) stay out; task errors come back as rows
        # (the in-process scheduler logs CRITICAL when a cancelled run's client goes first)
        quiet = logging.CRITICAL + 10
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(quiet)
        if self.scheduler == "local":
            with dask.config.set(QUIET_WORKERS):
                self.cluster = LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, processes=True,
                    dashboard_address="127.0.0.1:0", silence_logs=quiet,
                    preload=[__name__], host="127.0.0.1")
            self.client = Client(self.cluster)
            return
        try:
            self.client = Client(self.scheduler, timeout="5s")
        except OSError as e:
            raise UsageError(f"--scheduler {self.scheduler}: no Dask scheduler answers there "
                             f"({e})") from None

    def _disconnect(self, finished: threading.Event | None = None) -> None:
        """In the Dask thread: close the client, and the cluster when it is ours."""
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        self._sent = None
        for thing in (client, cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:       # noqa: BLE001 - closing must not mask what happened
                    pass
        if finished is not None:
            finished.set()

    def close(self) -> None:
        """Stop the call under way, close what this executor opened, end its thread; an
        interrupt while it closes is raised once it has closed."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._stop is not None:
            self._stop.set()
        finished = threading.Event()
        self._jobs.put((self._disconnect, (finished,)))
        self._jobs.put(None)
        if not thread.is_alive():
            return
        try:
            finished.wait(self.CLOSE_WAIT_S)
        except BaseException:
            # the interrupt is the caller's to raise, once the cluster is closed: a process that
            # exits mid-close has Dask's own exit hook close it again, noisily
            finished.wait(self.CLOSE_WAIT_S)
            raise

    def imap_unordered(self, fn: Callable, items: Iterable, setup: Callable,
                       setup_args: tuple = (), per_task: int | None = None
                       ) -> Iterator[tuple[int, object]]:
        """(index, fn(item)) for every item, as they finish; `setup(*setup_args)` runs first
        wherever the tasks run. `per_task`: items in one Dask task (default: see the module)."""
        items = list(items)
        if self.in_process or len(items) <= 1 and self.scheduler == "local":
            setup(*setup_args)
            for k, item in enumerate(items):
                yield k, fn(item)
            return
        if self._thread is None:
            raise RuntimeError("executor already closed")
        done: queue.SimpleQueue = queue.SimpleQueue()
        stop, over = threading.Event(), threading.Event()
        self._stop = stop
        self._jobs.put((self._drive, (fn, items, setup, setup_args, per_task, done, stop, over)))
        try:
            while True:
                got = done.get()
                if got is _DONE:
                    break
                if isinstance(got, BaseException):
                    raise got
                yield got
        except BaseException:
            stop.set()                  # the Dask thread cancels the tasks and closes the cluster
            over.wait(5)
            raise

    def _drive(self, fn, items, setup, setup_args, per_task, done, stop, over) -> None:
        """In the Dask thread, one call: start, scatter, submit, collect; on `stop`, cancel and
        close."""
        futures: list = []
        try:
            self._connect()
            client = self.client
            if not _same_objects(self._sent and self._sent[0], setup_args):
                [data] = client.scatter([setup_args], broadcast=True, hash=False)
                self._sent = (setup_args, data, uuid.uuid4().hex)
            _, data, run_key = self._sent         # the same data again: already there
            # a key of its own for every task of every call: a later call on the same data
            # (Optuna's next batch) must not be answered with an earlier call's results
            call = uuid.uuid4().hex
            if per_task is None:
                threads = sum(client.nthreads().values()) or 1
                per_task = max(1, len(items) // (threads * TASKS_PER_WORKER))
            starts = range(0, len(items), per_task)
            futures = [client.submit(_task, fn, setup, run_key, data, items[a:a + per_task],
                                     pure=False, key=f"perpbot-{call}-{a}") for a in starts]
            left = {f.key: a for a, f in zip(starts, futures)}     # key -> its first item
            # each future says when it is done (Dask calls back once it is no longer pending: a
            # lost worker's task is pending again until it has run elsewhere); this thread sleeps
            # until then, waking every 0.1 s only to see a stop
            arrived: queue.SimpleQueue = queue.SimpleQueue()
            for f in futures:
                f.add_done_callback(arrived.put)
            while left and not stop.is_set():
                try:
                    f = arrived.get(timeout=0.1)
                except queue.Empty:
                    continue
                first = left.pop(f.key, None)
                if first is not None:
                    for k, got in enumerate(f.result(), first):
                        done.put((k, got))
        except BaseException as e:     # noqa: BLE001 - handed to the caller's thread
            stop.set()
            done.put(e)
        if stop.is_set():
            try:
                if futures and self.client is not None:
                    self.client.cancel(futures, force=True)
            except Exception:           # noqa: BLE001
                pass
            self._disconnect()
        done.put(_DONE)
        over.set()


def imap_unordered(fn: Callable, items: Iterable, jobs: int, setup: Callable,
                   setup_args: tuple = (), scheduler: str = "local",
                   executor: Executor | None = None) -> Iterator[tuple[int, object]]:
    """One run on `executor`, or on one made (and closed) for it."""
    if executor is not None:
        yield from executor.imap_unordered(fn, items, setup, setup_args)
        return
    with Executor(jobs, scheduler) as ex:
        yield from ex.imap_unordered(fn, items, setup, setup_args)
