# Two commands do all set-up on a fresh machine (see README):
#   make run    install into .venv, create the database, load the An Giang plan, serve the schedules
#   make test   install into .venv with the test tools, run the whole test suite
# `make run` installs only what giaoviec needs to run; `make test` and `make lint` add the
# `[dev]` tools (pytest, mypy, Playwright, schemathesis…). Both take their versions from
# requirements.lock. Each stamp is redone when pyproject.toml or the lock changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run test lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $@

$(DEV_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/giaoviec init
	$(BIN)/giaoviec serve

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: $(DEV_STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^giaoviec' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
