"""The one harness every stage runs in: common flags, NDJSON streams, exit codes, signals.

A stage is a click command decorated with `@stage("name")`; it receives a `StageContext` first.
The harness turns expected failures (PerpbotError) into one diagnostic line and their exit code,
ends quietly with 0 when stdout is closed (`| head`), and on SIGINT/SIGTERM finishes the record in
hand before exiting 130/143. click would turn both into exit 1, so they are caught here.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Iterable, Iterator

import click

from . import config as config_mod
from . import records
from .errors import ExitCode, PerpbotError, UsageError
from .logs import Diag
from .procs import die_with_parent_from_env


class StageInterrupted(BaseException):
    """A stop request (SIGINT/SIGTERM) raised in the stage's main thread. A BaseException, as
    KeyboardInterrupt is: a handler for a failure (`except Exception`) never swallows it."""

    def __init__(self, code: ExitCode):
        super().__init__(code.name)
        self.code = code


class StageContext:
    def __init__(self, name: str, config_path: str | None, level: str):
        self.name = name
        self.level = level
        self.diag = Diag(name, level)
        self._config_path = config_path
        self._config = None
        self._writer = None
        self.holding = False          # True while a record is being processed
        self.pending: ExitCode | None = None

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            self._config = config_mod.load(self._config_path)
        return self._config

    @property
    def config_or_none(self) -> config_mod.Config | None:
        """The config, or None for a stage that can run on defaults when there is no config file
        (no --config given and no ./config.yaml)."""
        if self._config_path is None and not Path(config_mod.DEFAULT_PATH).exists():
            return None
        return self.config

    @property
    def out(self) -> records.Writer:
        if self._writer is None:
            self._writer = records.Writer()
        return self._writer

    def records(self, stream, consumes: Iterable[str], source: str = "") -> Iterator[records.Line]:
        """Input lines, with a signal that arrives mid-record honoured once that record is done."""
        for line in records.read(stream, frozenset(consumes), source):
            self.holding = True
            yield line
            self.holding = False
            self.check_signals()

    def each(self, items: Iterable):
        """Any loop of units of work with the same signal behaviour as `records`."""
        for item in items:
            self.holding = True
            yield item
            self.holding = False
            self.check_signals()

    def check_signals(self) -> None:
        if self.pending is not None:
            raise StageInterrupted(self.pending)

    def _on_signal(self, signum, frame):
        code = ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM
        if self.holding:
            self.pending = code
        else:
            raise StageInterrupted(code)


def common_options(f):
    """--config, --verbose, --quiet: defined once, shared by every stage."""
    f = click.option("--quiet", "-q", is_flag=True, help="Only errors on stderr.")(f)
    f = click.option("--verbose", "-v", is_flag=True, help="Debug diagnostics on stderr.")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     default=None, help="Config file (default ./config.yaml).")(f)
    return f


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


START_ENV = "PERPBOT_START_FD"


def _wait_for_start(ctx: StageContext) -> bool:
    """A stage the trade loop started ahead of its tick (PERPBOT_START_FD names a pipe): load the
    config, then wait for the loop's go (one byte) so the tick pays for no start-up. False when
    the pipe closes without one (the loop abandoned this tick)."""
    fd = os.environ.pop(START_ENV, None)
    if fd is None:
        return True
    ctx.config
    go = os.read(int(fd), 1)
    os.close(int(fd))
    return go == b"g"


def stage(name: str):
    """Decorator for a stage's click callback: `def main(ctx: StageContext, **opts)`."""

    def decorate(fn):
        @common_options
        @functools.wraps(fn)
        def wrapper(config_path, verbose, quiet, **kwargs):
            die_with_parent_from_env()
            level = "debug" if verbose else "error" if quiet else "info"
            ctx = StageContext(name, config_path, level)
            signal.signal(signal.SIGINT, ctx._on_signal)
            signal.signal(signal.SIGTERM, ctx._on_signal)
            code = ExitCode.OK
            try:
                _check_time_range(kwargs)
                if not _wait_for_start(ctx):
                    sys.exit(0)
                fn(ctx, **kwargs)
                sys.stdout.flush()
            except PerpbotError as e:
                ctx.diag.error(e.msg, **e.fields)
                code = e.exit_code
            except BrokenPipeError:
                _quiet_stdout()
            except sqlite3.Error as e:
                # a locked or broken store is an expected failure: one line, no traceback
                ctx.diag.error(f"store error: {e}")
                code = ExitCode.TEMPFAIL if "locked" in str(e) or "busy" in str(e) \
                    else ExitCode.FAILURE
            except StageInterrupted as e:
                ctx.diag.info("interrupted", signal=e.code.name)
                code = e.code
            except Exception as e:          # noqa: BLE001 - a bug: one line, not a traceback
                if verbose:
                    traceback.print_exc(file=sys.stderr)
                ctx.diag.error(f"internal error: {type(e).__name__}: {e}"
                               + ("" if verbose else " (run with --verbose for the traceback)"))
                code = ExitCode.SOFTWARE
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                _quiet_stdout()
            sys.exit(int(code))

        return wrapper

    return decorate


TIME_PAIRS = (("start", "end"), ("from", "to"))


def _check_time_range(kwargs: dict) -> None:
    """A start after its end is one clear line, whichever tool it is given to."""
    from .timeutil import iso

    for a, b in TIME_PAIRS:
        lo, hi = kwargs.get(a), kwargs.get(b)
        if lo is not None and hi is not None and lo > hi:
            raise UsageError(f"--{a} {iso(lo)} is after --{b} {iso(hi)}")


def time_option(name: str, help: str):
    """A time flag taking ISO-8601, epoch milliseconds, or a time relative to now (7d, 12h,
    30m, today, yesterday, now), converted to epoch ms."""
    from .timeutil import parse_time

    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            return parse_time(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    return click.option(name, callback=convert, metavar="T", help=help)




def scheduler_option(f):
    """--scheduler local|tcp://HOST:PORT: where a sweep's or walk-forward's tasks run."""
    return click.option(
        "--scheduler", default="local", show_default=True, metavar="local|tcp://HOST:PORT",
        help="local: a Dask LocalCluster of --jobs processes; tcp://HOST:8786: an existing "
             "Dask cluster (`dask scheduler`, `dask worker`). --jobs 1 runs in this process.")(f)


def sz_decimals_option(f):
    """--sz-decimals SYMBOL=N (repeatable): lot sizes by coin, given as `sz_decimals`."""
    def convert(ctx, param, values):
        sz_decimals = {}
        for spec in values:
            sym, sep, n = spec.partition("=")
            if not sep or not sym or not n.isdigit():
                raise click.BadParameter(f"{spec}: expected SYMBOL=N") from None
            sz_decimals[sym] = int(n)
        return sz_decimals

    return click.option("--sz-decimals", "sz_decimals", multiple=True, metavar="SYMBOL=N",
                        callback=convert,
                        help="Lot size of a coin (default: the exchange's meta, stored by "
                             "backfill).")(f)
