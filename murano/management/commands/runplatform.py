"""``manage.py runplatform``: the whole platform in the foreground, for ``make run``.

One Daphne process serves the web UI, management API, device API (long polls included) and
websockets; a Celery worker with an embedded beat runs background jobs beside it. Without
``REDIS_URL`` a private Redis on a Unix socket carries pushes and wakes between them
(murano/embedded_redis.py). A worker or embedded Redis that stops is started again; all stop
together on Ctrl-C. Production runs these pieces separately (see docs/operations.md).
"""

import os
import secrets
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from murano import embedded_redis
from murano.processes import Supervisor


class Command(BaseCommand):
    help = "Serve the whole platform (Daphne + a Celery worker) on one address."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")

    def handle(self, *args, host, port, no_worker, **options):
        self._ensure_admin(host, port)
        supervisor = Supervisor(log=lambda line: self.stderr.write(f"runplatform: {line}"))
        if not settings.REDIS_URL:
            log_file = str(settings.VAR_DIR / "redis.log")
            supervisor.start(
                "the embedded Redis",
                lambda: embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, log_file=log_file),
            )
        if not no_worker and not settings.CELERY_TASK_ALWAYS_EAGER:
            supervisor.start("the Celery worker", self._worker)
        daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "murano.asgi:application"]
        )
        sys.exit(supervisor.run(daphne))

    @staticmethod
    def _worker() -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "murano",
                "worker",
                "-B",
                "--loglevel",
                "WARNING",
                "--concurrency",
                "1",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        )  # fmt: skip

    def _ensure_admin(self, host, port):
        User = get_user_model()
        url = f"http://{host}:{port}/admin/"
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if email and password:
            if not User.objects.filter(email__iexact=email).exists():
                User.objects.create_superuser(email=email, password=password)
            self.stdout.write(f"Log in at {url} as {email} (password from DJANGO_SUPERUSER_PASSWORD).")
            return
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"Log in at {url} with your admin account.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email="admin@localhost", password=password)
        self.stdout.write(
            f"Created the first admin account. Log in at {url}\n"
            f"  e-mail:   admin@localhost\n  password: {password}\n"
            "(shown once; change it after logging in)"
        )
