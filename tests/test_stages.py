"""Every executable in bin/: a docstring that is its --help, and the perpbot dispatcher."""

import ast

import pytest

from conftest import BIN, run

STAGES = sorted(p.name for p in BIN.iterdir() if p.is_file())


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_has_help_from_its_docstring(name):
    doc = ast.get_docstring(ast.parse((BIN / name).read_text()))
    assert doc and len(doc.splitlines()[0]) > 10, f"bin/{name} has no docstring"
    r = run(name, "--help")
    assert r.returncode == 0
    first = " ".join(doc.split()[:6])
    assert first in " ".join(r.stdout.decode().split())


@pytest.mark.parametrize("name", STAGES)
def test_stages_are_thin(name):
    assert len((BIN / name).read_text().splitlines()) <= 200


def test_perpbot_runs_a_stage_git_style():
    r = run("perpbot", "validate-records", "--help")
    assert r.returncode == 0 and b"Check NDJSON records" in r.stdout
    r = run("perpbot", "nope")
    assert r.returncode == 2 and b"unknown command 'nope'" in r.stderr
    r = run("perpbot")
    assert r.returncode == 2 and b"fetch-candles" in r.stdout
    # its own commands, every one of them, a line each; never a venv's pip or python
    r = run("perpbot", "--help")
    listed = [ln.split()[0] for ln in r.stdout.decode().split("commands:\n")[1].splitlines()]
    assert sorted(listed) == sorted(p.name for p in BIN.iterdir() if p.name != "perpbot")
    for other in ("pip", "python"):
        assert run("perpbot", other, "--version").returncode == 2
