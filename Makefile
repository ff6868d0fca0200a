# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run run-tls test install install-dev lint bench migrate

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the Python packages into $(VENV)…"
	@$(PIP) install --quiet --disable-pip-version-check --upgrade pip
	@$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Quiet: the commands print only errors, so that runplatform's banner (where to log in) shows.
migrate: install
	@$(PY) manage.py migrate --noinput -v0

run: install migrate
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py runplatform

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

# Claims/s through the portal API and the device list by owner at 1,000,000 devices (~7 minutes;
# PostgreSQL and Redis db 7; docs/operations.md "Claiming benchmark").
.PHONY: bench-claiming
bench-claiming: install-dev
	$(PY) bench/claiming.py

# The portal's pages (landing, device list, device page) under 16 logged-in end users (~2 minutes;
# PostgreSQL and Redis db 13; docs/operations.md "Portal benchmark").
.PHONY: bench-portal
bench-portal: install-dev
	$(PY) bench/portal.py

# A sync of 10,000 assets from a local HTTPS API (the pump cloud, own CA): first sync and resync,
# assets/s, values/s, the worker's CPU per asset and peak RSS (~2-4 minutes; PostgreSQL and Redis
# db 15; bench/integrations.py).
.PHONY: bench-integrations
bench-integrations: install-dev
	$(PY) bench/integrations.py

# The MQTT device API's figures: publishes/s stored by one `runmqtt` (100 devices, QoS 1), 10,000
# idle connections (+2,000 over TLS) and cloud-set latency through Redis (~3 minutes; PostgreSQL
# database bench_mqtt and Redis db 11; bench/mqtt.py, results in bench/results/mqtt-<date>.txt).
.PHONY: bench-mqtt
bench-mqtt: install-dev
	$(PY) bench/mqtt.py

# Value history at scale (#19): write rate with the table partitioned by day against plain, 30 days
# at 1 Hz read as ~500 buckets, retention dropping a day of 100 M points while a device writes
# (~32 minutes, ~20 GB of disk while it runs; PostgreSQL databases bench_history* and Redis
# db 12; bench/history.py, results in bench/results/history-<date>.txt).
.PHONY: bench-history
bench-history: install-dev
	$(PY) bench/history.py
