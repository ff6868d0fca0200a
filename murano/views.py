"""Site-wide pages: the landing page and the health checks."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)
_redis_clients: dict = {}  # PUBSUB_URL → this process's client for the probe


@require_GET
def home(request):
    return render(request, "home.html")


@require_GET
def healthz(request):
    """Liveness for load balancers; also the benchmark's baseline "hello" view."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def readyz(request):
    """Readiness: the database answers, and so does Redis (``REDIS_URL``, or on the embedded
    default the private one that carries wakes and events between the platform's processes).
    ``200 {"database": "ok", "redis": "ok"}``, or ``503`` naming what is ``unavailable``."""
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    ready = all(checks.values())
    return JsonResponse(
        {name: "ok" if ok else "unavailable" for name, ok in checks.items()}, status=200 if ready else 503
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("readiness: the database does not answer: %s", exc)
        return False
    return True


def _redis_ok() -> bool:
    import redis

    client = _redis_clients.get(settings.PUBSUB_URL)
    if client is None:
        # Short timeouts: a probe must answer quickly, also when Redis hangs instead of refusing.
        client = _redis_clients[settings.PUBSUB_URL] = redis.Redis.from_url(
            settings.PUBSUB_URL, socket_connect_timeout=1, socket_timeout=1
        )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError) as exc:
        logger.warning("readiness: Redis does not answer: %s", exc)
        return False
