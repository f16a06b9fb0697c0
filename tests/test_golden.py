"""Golden cases: tests/golden/STAGE/CASE/ holds stdin, args, the expected stdout, exit code and
diagnostic message. A new case is a new directory."""

from pathlib import Path

import orjson
import pytest

from conftest import run

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.glob("*/*") if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_golden(case, tmp_path):
    args = (case / "args").read_text().split()
    r = run(case.parent.name, *args, input=(case / "stdin").read_bytes(), cwd=tmp_path)
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
