"""Sweeps on a Dask cluster: a scheduler and two workers started here as processes on
127.0.0.1 give the rows of the in-process sweep, and a worker killed mid-sweep loses no row."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, market_store, ndjson

DASK = Path(sys.executable).parent / "dask"
RANGES = ["--range", "signals.entry_z=1.5:2.95:0.05", "--range", "indicators.bb_k=1.5,2.0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """`dask scheduler` and two `dask worker`s, one thread each; their processes."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "wb")
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", "127.0.0.1:0"], stdout=log, stderr=log,
                              start_new_session=True)]
    for _ in range(2):
        procs.append(subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1",
                                       "--nworkers", "1", "--no-nanny", "--host", "127.0.0.1",
                                       "--dashboard-address", "127.0.0.1:0"],
                                      stdout=log, stderr=log, start_new_session=True))
    from dask.distributed import Client
    with Client(address, timeout="30s") as c:
        c.wait_for_workers(2, timeout=60)
    yield address, procs
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    log.close()


@pytest.fixture
def eurusd(tmp_path):
    return market_store(tmp_path, "EURUSD-1h", "EURUSD", "1h")


def sweep(cfg, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(BIN / "sweep"), "--config", str(cfg),
                             "--symbol", "EURUSD", "--mode", "grid", *RANGES, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def keyed(rs):
    return {(r["signals.entry_z"], r["indicators.bb_k"]): r for r in rs}


@pytest.mark.slow
def test_a_sweep_on_a_two_worker_cluster_is_the_in_process_sweep_row_for_row(cluster, eurusd):
    address, _ = cluster
    local = sweep(eurusd, "--jobs", "1")
    remote = sweep(eurusd, "--scheduler", address, "--jobs", "2")
    (lo, _), (re, err) = local.communicate(timeout=300), remote.communicate(timeout=300)
    assert local.returncode == remote.returncode == 0, err.decode()[-2000:]
    a, b = keyed(ndjson(lo)), keyed(ndjson(re))
    assert len(a) == 60 and a == b                  # every row, every number equal


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_loses_no_row(cluster, eurusd):
    address, procs = cluster
    local = sweep(eurusd, "--jobs", "1")
    p = sweep(eurusd, "--scheduler", address)
    got = []
    while len(got) < 5:                             # some rows done: both workers are busy
        line = p.stdout.readline()
        assert line, p.stderr.read().decode()[-2000:]
        got.append(line)
    os.killpg(procs[1].pid, signal.SIGKILL)        # one worker gone without a word
    # the rest through the same buffered reader (communicate() would skip what readline holds)
    out, err = p.stdout.read(), p.stderr.read()
    p.wait(timeout=300)
    lo, _ = local.communicate(timeout=300)
    assert p.returncode == 0, err.decode()[-2000:]
    assert keyed(ndjson(b"".join(got) + out)) == keyed(ndjson(lo))
    assert len(ndjson(b"".join(got) + out)) == 60     # no row twice either


def test_a_scheduler_nobody_runs_is_one_line_and_exit_2(eurusd):
    p = sweep(eurusd, "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and out == b""
    (line,) = err.splitlines()
    assert b"no Dask scheduler answers there" in line
