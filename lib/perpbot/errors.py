"""Exit codes and the exceptions that carry them, in one place for every stage."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1       # runtime failure
    USAGE = 2         # bad flags or bad config
    DATAERR = 65      # bad input record (sysexits EX_DATAERR)
    SOFTWARE = 70     # an internal error: a bug (sysexits EX_SOFTWARE)
    TEMPFAIL = 75     # network, rate limit: a caller may retry (sysexits EX_TEMPFAIL)
    SIGINT = 130
    SIGTERM = 143


class PerpbotError(Exception):
    """An expected failure: one line a person can act on, and an exit code."""

    exit_code = ExitCode.FAILURE

    def __init__(self, msg: str, **fields):
        super().__init__(msg)
        self.msg = msg
        self.fields = fields

    def __reduce__(self):       # keep the fields when sent from a worker process
        return (_rebuild, (type(self), self.msg, self.fields))


def _rebuild(cls, msg, fields):
    return cls(msg, **fields)


class UsageError(PerpbotError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    pass


class BadInput(PerpbotError):
    exit_code = ExitCode.DATAERR


class TemporaryFailure(PerpbotError):
    exit_code = ExitCode.TEMPFAIL
