# Quick start: `make demo` runs the main job, `make test` runs the test suite.
# Both share one virtual environment (.venv; the first creates it) and install what they need into it:
# `demo` only the package, `test` the package with its dev extras (Ray, ALE, Box2D, MinAtar, ...).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(BIN)/.installed $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/wnrl compare configs/sweeps/demo.yaml

test: $(BIN)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy wnrl agents benchmarks

clean:
	rm -rf $(VENV) runs sweeps tunes videos
