# ChargeHub: `make run` starts everything on an embedded default, `make test` runs the tests.
# Both create .venv with a Python 3.12+ interpreter found by scripts/find-python.

VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
CHARGERS ?= 3

.PHONY: run info test lint check-migrations bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@interpreter=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$interpreter"; "$$interpreter" -m venv $(VENV) || exit 1; fi
	@echo "Installing the Python packages into $(VENV) (requirements-dev.txt; a few minutes the first time)"
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	@touch $@

run: $(VENV)/.installed
	scripts/ensure-pdf-libs
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py setup_roles
	DEBUG=$${DEBUG:-1} $(PY) manage.py load_demo --history
	DEBUG=$${DEBUG:-1} $(PY) manage.py load_billing_demo
	DEBUG=$${DEBUG:-1} $(PY) manage.py run_stack --host $(HOST) --port $(PORT) --chargers $(CHARGERS)

# The banner of `make run` (addresses, demo logins, the mail folder), without starting anything.
info: $(VENV)/.installed
	@DEBUG=$${DEBUG:-1} $(PY) manage.py run_stack --info --host $(HOST) --port $(PORT) --chargers $(CHARGERS)

test: $(VENV)/.installed
	scripts/ensure-chromium
	scripts/ensure-nginx
	scripts/ensure-pdf-libs
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Migrations are checked on the configured database (PostgreSQL in CI); the test
# database itself is built without them, which keeps test runs fast.
check-migrations: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py makemigrations --check --dry-run

bench: $(VENV)/.installed
	$(PY) bench/ocpp_load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
