"""Golden cases: tests/golden/STAGE/CASE/ holds stdin, args, the expected stdout, exit code and
diagnostic message, and optionally a config.yaml and a store.sql run against a new store
(perpbot.db) in the case's working directory. A new case is a new directory."""

import shutil
from pathlib import Path

import orjson
import pytest

from conftest import run
from perpbot.config import SECRET_NAMES
from perpbot.store import Store

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.glob("*/*") if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_golden(case, tmp_path):
    if (case / "config.yaml").exists():
        shutil.copy(case / "config.yaml", tmp_path / "config.yaml")
    if (case / "store.sql").exists():
        with Store.open(tmp_path / "perpbot.db") as st:
            st.conn.executescript((case / "store.sql").read_text())
    args = (case / "args").read_text().split()
    r = run(case.parent.name, *args, input=(case / "stdin").read_bytes(), cwd=tmp_path,
            unset=SECRET_NAMES)             # the cases say which secrets they have: none
    assert r.returncode == int((case / "exit").read_text())
    assert r.stdout == (case / "stdout").read_bytes()
    want = (case / "stderr").read_text().strip()
    diags = [orjson.loads(x) for x in r.stderr.splitlines()]
    if want:
        assert len(diags) == 1, r.stderr
        assert diags[0]["msg"] == want
        assert diags[0]["level"] == "error" and diags[0]["stage"] == case.parent.name
    else:
        assert diags == []
    assert b"Traceback" not in r.stderr


def test_every_stage_has_golden_cases_and_an_error_case_among_them():
    from conftest import BIN
    stages = {p.name for p in BIN.iterdir()} - {"perpbot"}     # perpbot only dispatches
    assert stages <= {p.name for p in GOLDEN.iterdir()}, stages - {p.name for p in GOLDEN.iterdir()}
    for stage in stages:
        assert any(int((c / "exit").read_text()) != 0 for c in (GOLDEN / stage).iterdir()), stage
