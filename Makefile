# The two commands of the README. Both create and use .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONSOLE := services/sync-gateway/console
CONSOLE_VENDOR := $(CONSOLE)/site/vendor/versions.json

.PHONY: dev test check install bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,test,bench]'
	touch $(STAMP)

# The console's vendor files (Vue, Element Plus, ECharts): the pinned npm packages, copied into site/vendor/, which
# the sync gateway serves (no CDN at run time). Rerun when package-lock.json or copy-vendor.mjs changes.
$(CONSOLE_VENDOR): $(CONSOLE)/package-lock.json $(CONSOLE)/copy-vendor.mjs
	cd $(CONSOLE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node copy-vendor.mjs

install: $(STAMP) $(CONSOLE_VENDOR)

## The browser tests' Chromium and a Chinese font (Debian packages; the tests run as root here), if missing.
# apt-get as root, else through sudo; never a prompt.
APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get
browser:
	command -v chromium >/dev/null || ($(APT) update && $(APT) install -y --no-install-recommends chromium)
	fc-list | grep -qi wqy || dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || \
	  ($(APT) update && $(APT) install -y --no-install-recommends fonts-wqy-zenhei)

## make dev: the whole suite on embedded PostgreSQL + Tansu; prints URLs and demo tokens; Ctrl-C stops everything.
dev: install
	$(BIN)/shixiang dev

## make test: the checkers (ruff, mypy, import contracts; docs/DEVELOPING.md "Checks"), then every test (unit,
## integration on real PostgreSQL + broker, end-to-end through uvicorn processes).
test: install browser check
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.e2e_publish_to_feed

clean:
	rm -rf $(VENV) .dev
