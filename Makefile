# The two commands of the README. Both create and use .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test check install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

## make dev: the whole suite on embedded PostgreSQL + Tansu; prints URLs and demo tokens; Ctrl-C stops everything.
dev: $(STAMP)
	$(BIN)/shixiang dev

## make test: the checkers (ruff, mypy, import contracts; docs/DEVELOPING.md "Checks"), then every test (unit,
## integration on real PostgreSQL + broker, end-to-end through uvicorn processes).
test: $(STAMP) check
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.e2e_publish_to_feed

clean:
	rm -rf $(VENV) .dev
