"""Gunicorn settings for the WSGI pool: device API short requests + the Django site.

    gunicorn -c deploy/gunicorn.conf.py murano.wsgi:application

Long polls and websockets belong on Daphne (nginx routes them there, see deploy/nginx/murano.conf);
this pool answers everything that finishes quickly. Sync workers: one request per process at a
time, no threads, so each worker holds exactly one persistent PostgreSQL connection
(``DB_CONN_MAX_AGE``) and never competes with itself for the GIL.

Every value can be overridden from the environment (``GUNICORN_*``) or on the command line
(command-line flags win over this file).
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# nginx connects here; keep it on loopback (or a unix socket: "unix:/run/murano/wsgi.sock").
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
# Database-bound requests: about two workers per core keeps the cores busy while others wait on
# PostgreSQL/Redis. Each worker is one PostgreSQL connection (see docs/operations.md).
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count())
worker_class = "sync"
# Pending connections the kernel queues while every worker is busy (capped by net.core.somaxconn).
backlog = _int("GUNICORN_BACKLOG", 2048)
# A short request that takes longer than this is stuck: the worker is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Sync workers close the connection after each response; nginx talks to us per request anyway.
keepalive = 2
# Load Django once in the master and fork: workers share the code pages (copy-on-write), which
# roughly halves the pool's memory. No connection is opened at import time, so this is safe.
# Trade-off: `kill -HUP` then restarts workers with the old code; deploy with a full restart.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"
# Recycle workers now and then (0 = never). Off by default: restarts show up as latency blips.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# The heartbeat file on tmpfs: a slow or overlay disk must not make the arbiter kill workers.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else None)
# nginx keeps the access log; gunicorn logs errors only.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
proc_name = "murano-wsgi"
# The app decides itself which peers may set X-Forwarded-* (env TRUSTED_PROXIES); gunicorn
# should not rewrite wsgi.url_scheme behind its back.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "")
# Gunicorn >= 25 opens a control socket in ~/.gunicorn by default; several pools on one host
# would fight over it. Enable it explicitly with GUNICORN_CONTROL_SOCKET=/run/murano/gunicorn.ctl.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
