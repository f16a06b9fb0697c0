"""Shared test helpers: paths, running stages as real subprocesses, hl-sim on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from perpbot.simproc import SimProcess

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "bin"
SHARED = Path(os.environ.get("PERPBOT_SHARED", ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"


def shared_file(rel: str) -> Path:
    """A file under ../shared/data, or a skip saying why (a user's fresh clone lacks it)."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"{p} is absent: the shared reference data is not beside this clone")
    return p


def run(name: str, *args, input: bytes | str | None = None, timeout: float = 60, env=None,
        cwd=None, unset=()) -> subprocess.CompletedProcess:
    """Run bin/NAME with the test interpreter (`unset`: variables removed from its
    environment); stdout and stderr captured as bytes."""
    if isinstance(input, str):
        input = input.encode()
    full_env = {k: v for k, v in dict(os.environ, **(env or {})).items() if k not in unset}
    return subprocess.run([sys.executable, str(BIN / name), *map(str, args)], input=input,
                          capture_output=True, timeout=timeout, env=full_env, cwd=cwd)


def run_on_a_pty(name: str, *args, stream: str = "stdout", env=None, cwd=None,
                 timeout: float = 60) -> tuple[int, bytes]:
    """Run bin/NAME with a pseudo-terminal as its `stream` (stdout or stderr; the other is
    discarded): its exit code and all it wrote there, as a person at a terminal would see."""
    import pty
    master, slave = pty.openpty()
    other = "stderr" if stream == "stdout" else "stdout"
    p = subprocess.Popen([sys.executable, str(BIN / name), *map(str, args)],
                         **{stream: slave, other: subprocess.DEVNULL},
                         env={**os.environ, **(env or {})}, cwd=cwd)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:                 # the pty closes with the process
            break
        if not chunk:
            break
        out += chunk
    code = p.wait(timeout=timeout)
    os.close(master)
    return code, out


def popen(name: str, *args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(BIN / name), *map(str, args)], **kw)


@pytest.fixture
def sim():
    """Factory: sim(*hl-sim args) starts one (a SimProcess); all are stopped at teardown."""
    started = []

    def start(*args):
        s = SimProcess(*args, stderr=subprocess.PIPE)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


UNREACHABLE = "http://127.0.0.1:9"     # the discard port: nothing listens, connections refused


def write_config(dir: Path, url: str | None = None, **sections) -> Path:
    """A config.yaml in `dir` pointing at `url` (hl-sim, following its clock) or, with no url,
    at a port where nothing listens; fast retries; keyword sections override keys."""
    cfg = {"symbols": ["BTC"],
           "exchange": {"api_url": url or UNREACHABLE, "clock": "sim" if url else "wall",
                        "retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5.0},
           "data": {"db_path": "perpbot.db", "timeframes": ["1m"], "history_days": 3650.0},
           "strategy": {"timeframe": "1m"}}
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    path = dir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def market_rows(name: str, symbol: str, tf: str) -> list[tuple]:
    """A shared/data market file as store rows under a coin name (skips where it is absent)."""
    import json

    from perpbot.hl import parse
    return [parse.candle_row(c, symbol, tf) for c in
            json.loads(shared_file(f"markets/{name}.json").read_text())]


def market_store(dir: Path, name: str, symbol: str, tf: str, sz_decimals: int | None = 0,
                 rows: list | None = None) -> Path:
    """A config and a store in `dir` holding one market (the strategy on its timeframe) and,
    unless sz_decimals is None, its lot size; returns the config's path."""
    from perpbot.store import Store
    cfg = write_config(dir, None, symbols=[symbol], data={"timeframes": [tf]},
                       strategy={"timeframe": tf})
    with Store.open(dir / "perpbot.db") as st:
        st.insert_candles(rows if rows is not None else market_rows(name, symbol, tf))
        if sz_decimals is not None:
            st.set_state("exchange_meta", f'{{"{symbol}": {sz_decimals}}}', 0)
    return cfg


def replay_pipe(cfg, symbol: str, tf: str) -> subprocess.CompletedProcess:
    """History replayed through the stages as a pipe: fetch-candles --from-store |
    compute-indicators | emit-signals --replay | risk-gate --replay | execute --mode replay."""
    py = sys.executable
    cmd = (f"'{py}' '{BIN / 'fetch-candles'}' {symbol} --tf {tf} --from-store --config '{cfg}'"
           f" | '{py}' '{BIN / 'compute-indicators'}' --config '{cfg}'"
           f" | '{py}' '{BIN / 'emit-signals'}' --replay --config '{cfg}'"
           f" | '{py}' '{BIN / 'risk-gate'}' --replay --config '{cfg}'"
           f" | '{py}' '{BIN / 'execute'}' --mode replay --config '{cfg}'")
    return subprocess.run(cmd, shell=True, capture_output=True)


def ndjson(out: bytes) -> list[dict]:
    """The records of a stage's NDJSON output (stdout, or stderr's diagnostics)."""
    return [orjson.loads(x) for x in out.splitlines()]
