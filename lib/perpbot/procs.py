"""Child processes that die with their parent.

Linux's PR_SET_PDEATHSIG has the kernel signal a process when the thread that forked it exits,
however it exits (a SIGKILLed trade loop included). A process asks for it itself, so there is a
window between its fork and the request: the parent pid it was given is checked right after, and
a process whose parent is already gone exits at once.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
PARENT_ENV = "PERPBOT_PARENT_PID"


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Be sent `sig` when the parent dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):      # not Linux: the parent check below still runs
        pass
    if os.getppid() != parent_pid:
        os._exit(128 + sig)


def die_with_parent_from_env() -> None:
    """For a stage: when the trade loop started it (PERPBOT_PARENT_PID), die with the loop. The
    variable is consumed so that nothing this process starts inherits it."""
    pid = os.environ.pop(PARENT_ENV, None)
    if pid and pid.isdigit():
        die_with_parent(int(pid))


def child_env(**extra: str) -> dict:
    """The environment for a child of this process that must die with it."""
    return {**os.environ, PARENT_ENV: str(os.getpid()), **extra}
