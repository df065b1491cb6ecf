# Referentiel: every task a developer or CI runs. `make run` and `make test` set everything up themselves.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
SIZE ?= S

# The embedded default: an SQLite file under instance/, and a secret key generated once for this checkout.
export PORTAL_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/referentiel.db
SECRET_FILE := instance/secret_key

.PHONY: help install run test lint format unit bench clean

help:
	@echo "make run     serve the portal with demo data on http://$(HOST):$(PORT)"
	@echo "make test    lint + unit tests on SQLite and PostgreSQL"
	@echo "make lint    ruff and mypy"
	@echo "make bench   search benchmark (SIZE=S or SIZE=L) against PostgreSQL"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs exactly the versions in constraints.txt; re-runs when the dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $@

install: $(VENV)/.installed

$(SECRET_FILE):
	mkdir -p instance
	$(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@
	chmod 600 $@

run: install $(SECRET_FILE)
	PORTAL_SECRET_KEY=$${PORTAL_SECRET_KEY:-$$(cat $(SECRET_FILE))} $(BIN)/flask --app portal db upgrade
	PORTAL_SECRET_KEY=$${PORTAL_SECRET_KEY:-$$(cat $(SECRET_FILE))} $(BIN)/flask --app portal demo-data --size XS --if-empty
	@echo "Referentiel on http://$(HOST):$(PORT)  (API: http://$(HOST):$(PORT)/api/docs; Ctrl-C stops it)"
	PORTAL_SECRET_KEY=$${PORTAL_SECRET_KEY:-$$(cat $(SECRET_FILE))} $(BIN)/gunicorn --bind $(HOST):$(PORT) \
		--workers 2 --access-logfile - 'portal:create_app()'

test: lint unit

lint: install
	$(BIN)/ruff check portal tests bench migrations
	$(BIN)/ruff format --check portal tests bench migrations
	$(BIN)/mypy portal

format: install
	$(BIN)/ruff check --fix portal tests bench migrations
	$(BIN)/ruff format portal tests bench migrations

# Every unit test runs on SQLite and on the PostgreSQL server (a throwaway database per run).
# pytest exits 5 when it collected nothing: that fails the target like any other non-zero status.
unit: install
	$(BIN)/pytest tests/unit -p no:cacheprovider -q

bench: install
	$(BIN)/python bench/search --size $(SIZE)

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
