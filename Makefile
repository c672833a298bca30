# Okienko — the two commands: `make run` (the portal with its sandbox services) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
SANDBOX_PORT ?= 5001
PORTAL_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-pg test-sqlite lint install translations bench clean deps

$(BIN)/okienko: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/okienko translations

translations: $(BIN)/okienko
	$(BIN)/pybabel compile --use-fuzzy -d portal/translations

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# What Debian must provide (scripts/deps): installed when missing, the test services started; silent otherwise.
deps:
	@PORTAL_TEST_DATABASE_URL=$(PORTAL_TEST_DATABASE_URL) scripts/deps test

run: install
	@scripts/deps run
	$(BIN)/okienko keys init
	$(BIN)/okienko sandbox pki --port $(SANDBOX_PORT)
	$(BIN)/okienko db upgrade
	$(BIN)/okienko catalog load catalog
	$(BIN)/okienko demo --port $(PORT) --sandbox-port $(SANDBOX_PORT)

# Both runs at once, PostgreSQL's whole and SQLite's without the browser tests but the main flows (scripts/test).
test: deps install node_modules/.installed
	PORTAL_TEST_DATABASE_URL=$(PORTAL_TEST_DATABASE_URL) BIN=$(BIN) scripts/test

lint: $(BIN)/okienko
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
