# perpbot: every target works on a fresh clone; the first one run creates .venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO    := demo
SHARED  ?= ../shared

.PHONY: setup test bench demo demo-live trade clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml $(wildcard bin/*)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests

bench: $(STAMP)
	$(BIN)/python tests/bench.py

demo: $(STAMP)
	$(BIN)/python -m perpbot.demo --dir $(DEMO)

demo-live: $(STAMP)
	$(BIN)/python -m perpbot.demo --dir $(DEMO)-live --live --seconds 90

trade: $(STAMP)
	@test -f config.yaml || cp config.example.yaml config.yaml
	$(BIN)/backfill --config config.yaml
	$(BIN)/supervise --config config.yaml --mode paper

clean:
	rm -rf $(VENV) $(DEMO) $(DEMO)-live .pytest_cache
