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
# Processes running the unit tests (pytest-xdist): one per core of the CI machine.
UNIT_WORKERS ?= 2

.PHONY: help install run test lint format unit fuzz e2e faults vendor bench bench-import bench-load clean

help:
	@echo "make run     serve the portal with demo data on http://$(HOST):$(PORT)"
	@echo "make test    lint + unit tests on SQLite and PostgreSQL + end-to-end tests in Chromium"
	@echo "make fuzz    a long schemathesis run against the API (make fuzz-ci: the bounded one of make test)"
	@echo "make e2e     end-to-end tests only (gunicorn, PostgreSQL, Redis, a real OpenID Connect provider)"
	@echo "make faults  the database stopped under load and mid-write, a worker killed, the identity provider down"
	@echo "make lint    ruff, mypy and bandit"
	@echo "make delivery     hadolint, shellcheck, kubernetes-validate and checkov on k8s/, npm-groovy-lint (docs/deploy.md)"
	@echo "make container-check  the container image's install, migration and start, without a container engine"
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
	@# Readable log lines at a terminal (JSON elsewhere); the portal logs each request itself.
	$(WITH_SECRET) PORTAL_LOG_FORMAT=$${PORTAL_LOG_FORMAT:-text} PORTAL_BIND=$(HOST):$(PORT) $(BIN)/gunicorn --config python:portal.gunicorn_config 'portal:create_app()'

# The same targets as the pipeline's stages (Jenkinsfile), in the same order, with the same two pairs of single-process
# targets side by side, one per core of the CI machine (each one's output kept together); the three installs (mostly
# downloads and unpacking) run side by side too. The unit tests take both cores; faults and e2e-ci, timed, run alone.
SUB_MAKE := $(MAKE) --no-print-directory
SIDE_BY_SIDE := $(SUB_MAKE) --output-sync=target
test:
	$(SIDE_BY_SIDE) -j3 setup
	$(SIDE_BY_SIDE) -j2 lint delivery
	$(SUB_MAKE) unit-ci
	$(SIDE_BY_SIDE) -j2 fuzz-ci container-check
	$(SUB_MAKE) faults
	$(SUB_MAKE) e2e-ci

lint: install
	$(BIN)/ruff check portal tests bench migrations deploy .ci
	$(BIN)/ruff format --check portal tests bench migrations deploy .ci
	$(BIN)/mypy portal
	$(BIN)/bandit -c pyproject.toml -r portal -q

format: install
	$(BIN)/ruff check --fix portal tests bench migrations deploy .ci
	$(BIN)/ruff format portal tests bench migrations deploy .ci

# Every unit test runs on SQLite and on the PostgreSQL server (a throwaway database per run).
# pytest exits 5 when it collected nothing: that fails the target like any other non-zero status.
unit: install
	$(BIN)/pytest tests/unit -p no:cacheprovider -q -n $(UNIT_WORKERS) $(UNIT_REPORTS)

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
	$(BIN)/pytest tests/e2e -p no:cacheprovider -q --screenshot only-on-failure --output test-results $(E2E_REPORTS)

# Faults against real processes the tests start (tests/faults): a PostgreSQL cluster of their own (initdb, run as the
# postgres user, on a free port), gunicorn with the image's command and configuration, the OpenID Connect provider.
# PostgreSQL stopped under load and in the middle of an apply and of a push, a worker killed mid-request, the provider
# down; the figures are printed at the end (docs/reliability.md), JUnit XML goes to build/reports. Under a minute.
faults: install node_modules/.installed
	$(BIN)/pytest tests/faults -p no:cacheprovider -q --junitxml=$(REPORTS)/faults.xml

fuzz: install
	FUZZ_RANDOM_SEED=1 FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-1000} $(BIN)/pytest tests/fuzz -p no:cacheprovider -q

bench: install
	$(BIN)/python bench/search_bench.py --size $(SIZE)

# Import benchmark: a workbook of SIZE into an empty PostgreSQL, dry run + apply, re-import, 20,000 pushed records.
bench-import: install
	$(BIN)/python bench/import_bench.py --size $(SIZE)

# Sustained load: 5 minutes from 32 connections (searches, pages, htmx fragments, exports, pushes) against gunicorn
# and a throwaway copy of the SIZE dataset; zero errors and flat worker memory. Not part of `make test`.
bench-load: install
	$(BIN)/python bench/load_bench.py --size $(SIZE)

# ---- Delivery: the image, the Kubernetes manifests and the pipeline (docs/deploy.md) ----

.PHONY: setup unit-ci fuzz-ci e2e-ci delivery container-check sonar k8s-migrate k8s-deploy smoke

REPORTS := build/reports
DELIVERY_VENV := .venv-delivery
DELIVERY_BIN := $(DELIVERY_VENV)/bin
OVERLAYS := $(notdir $(wildcard k8s/overlays/*))
# The oldest Kubernetes the manifests must still suit, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS ?= 1.32.0 1.37.0
OVERLAY ?= dev

# Everything the other targets install, at once (the pipeline's Setup stage).
setup: install node_modules/.installed $(DELIVERY_VENV)/.installed

# `unit` and `e2e` writing JUnit XML under build/reports, and the unit tests' coverage for SonarQube.
unit-ci: UNIT_REPORTS = --junitxml=$(REPORTS)/unit.xml --cov=portal --cov-report=xml:$(REPORTS)/coverage.xml
unit-ci: unit

# Schemathesis fuzzes every /api/v1 operation from the portal's own OpenAPI document, in-process against a throwaway
# PostgreSQL database (tests/fuzz). fuzz-ci is the pipeline's bounded, deterministic run (a fixed seed); `make fuzz`
# is a long one with a new seed each time, printed at the end: FUZZ_SEED=<seed> replays it, FUZZ_MAX_EXAMPLES sets
# the cases per operation.
fuzz-ci: install
	$(BIN)/pytest tests/fuzz -p no:cacheprovider -q --junitxml=$(REPORTS)/fuzz.xml

e2e-ci: E2E_REPORTS = --junitxml=$(REPORTS)/e2e.xml --tracing retain-on-failure
e2e-ci: e2e

# The validators, in a virtualenv of their own: checkov's dependencies conflict with the portal's.
$(DELIVERY_VENV)/.installed: .ci/delivery-requirements.txt .ci/delivery-constraints.txt
	$(PYTHON) -m venv $(DELIVERY_VENV)
	$(DELIVERY_BIN)/pip install --quiet --constraint .ci/delivery-constraints.txt --requirement .ci/delivery-requirements.txt
	touch $@

# Every overlay rendered as `kubectl apply -k` would send it (kubectl's built-in kustomize), into build/k8s.
delivery: install node_modules/.installed $(DELIVERY_VENV)/.installed
	$(DELIVERY_BIN)/hadolint --failure-threshold warning Dockerfile
	$(DELIVERY_BIN)/shellcheck deploy/install-app deploy/k8s .ci/run
	rm -rf build/k8s && mkdir -p build/k8s
	for overlay in $(OVERLAYS); do kubectl kustomize k8s/overlays/$$overlay > build/k8s/$$overlay.yaml || exit 1; done
	for version in $(KUBERNETES_VERSIONS); do \
	    $(DELIVERY_BIN)/kubernetes-validate --strict --quiet --kubernetes-version $$version \
	        build/k8s/*.yaml k8s/secret.example.yaml || exit 1; \
	done
	$(DELIVERY_BIN)/checkov --quiet --compact --skip-download --framework dockerfile --file Dockerfile
	$(DELIVERY_BIN)/checkov --quiet --compact --skip-download --framework kubernetes --directory build/k8s
	$(BIN)/pytest tests/delivery -p no:cacheprovider -q
	npx --no-install npm-groovy-lint --noserver Jenkinsfile

# Installs the wheel as the Dockerfile does, migrates a throwaway PostgreSQL database with the migration Job's
# command, starts the image's CMD and runs `make smoke` against it (.ci/container_check.py).
container-check: $(DELIVERY_VENV)/.installed
	$(DELIVERY_BIN)/python .ci/container_check.py

# SonarQube analysis of the unit-ci reports; the pipeline runs it inside withSonarQubeEnv (SONAR_HOST_URL and
# SONAR_AUTH_TOKEN). It needs a SonarQube server, which `make test` does not have.
sonar: $(DELIVERY_VENV)/.installed
	SONAR_TOKEN=$${SONAR_TOKEN:-$$SONAR_AUTH_TOKEN} $(DELIVERY_BIN)/pysonar

# The pipeline's Migrate and Deploy stages, with the cluster of KUBECONFIG: make k8s-deploy OVERLAY=prod
# IMAGE=registry/referentiel@sha256:... (deploy/k8s; tests/delivery runs them against a stand-in kubectl).
k8s-migrate:
	deploy/k8s migrate $(OVERLAY) $(IMAGE)
k8s-deploy:
	deploy/k8s deploy $(OVERLAY) $(IMAGE)

# /readyz and one authenticated search (REFERENTIEL_TOKEN) through OVERLAY's ingress, or SMOKE_URL.
smoke:
	$(PYTHON) deploy/smoke.py $(or $(SMOKE_URL),https://$(shell kubectl kustomize k8s/overlays/$(OVERLAY) | sed -n 's/^  - host: //p')) $(SMOKE_ARGS)

clean:
	rm -rf $(VENV) $(DELIVERY_VENV) instance node_modules test-results build .coverage .pytest_cache .mypy_cache .ruff_cache \
	    .hypothesis
