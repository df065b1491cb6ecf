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

.PHONY: help install run test lint format unit e2e vendor bench clean

help:
	@echo "make run     serve the portal with demo data on http://$(HOST):$(PORT)"
	@echo "make test    lint + unit tests on SQLite and PostgreSQL + end-to-end tests in Chromium"
	@echo "make e2e     end-to-end tests only (gunicorn, PostgreSQL, Redis, a real OpenID Connect provider)"
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

# The secret key from the environment when set, else this checkout's generated one.
WITH_SECRET := PORTAL_SECRET_KEY=$${PORTAL_SECRET_KEY:-$$(cat $(SECRET_FILE))}

run: install $(SECRET_FILE)
	$(WITH_SECRET) $(BIN)/flask --app portal db upgrade
	$(WITH_SECRET) $(BIN)/flask --app portal demo-data --size XS --if-empty
	@# The local admin: its password is printed once, at creation (or taken from PORTAL_ADMIN_PASSWORD).
	$(WITH_SECRET) $(BIN)/flask --app portal users ensure-admin
	@echo "Referentiel on http://$(HOST):$(PORT)  (sign in as admin; API: http://$(HOST):$(PORT)/api/docs; Ctrl-C stops it)"
	$(WITH_SECRET) $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --access-logfile - 'portal:create_app()'

test: lint unit e2e

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

# The npm packages of the end-to-end tests (the loopback OpenID Connect provider); re-run when the lock changes.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# htmx is served from static/vendor (no CDN): copied from the pinned npm package, with its checksum.
HTMX_VERSION := $(shell node -p 'require("./package.json").devDependencies["htmx.org"]' 2>/dev/null)
vendor: node_modules/.installed
	rm -f static/vendor/htmx-*.min.js
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx-$(HTMX_VERSION).min.js
	cd static/vendor && sha256sum htmx-$(HTMX_VERSION).min.js > SHA256SUMS

# Chromium (Debian's, at /usr/bin/chromium) against gunicorn, PostgreSQL, Redis and the test identity
# provider, all started by tests/e2e/conftest.py. Screenshots of failing tests land in test-results/.
e2e: install node_modules/.installed
	$(BIN)/pytest tests/e2e -p no:cacheprovider -q --screenshot only-on-failure --output test-results

bench: install
	$(BIN)/python bench/search --size $(SIZE)

clean:
	rm -rf $(VENV) instance node_modules test-results .pytest_cache .mypy_cache .ruff_cache
