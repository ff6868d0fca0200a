# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run run-tls test install install-dev lint bench migrate

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

run: install migrate
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py runplatform

# The same behind a local nginx (Debian's package) with TLS and client certificates: devices at
# https://<connector-id>.devices.localhost:8443/ (docs/tls.md).
run-tls: install migrate
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py runtls

test: install-dev
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install-dev
	$(PY) bench/device_api.py
