"""``manage.py runplatform``: the whole platform in the foreground, for ``make run``.

One Daphne process serves the web UI, management API, device API (long polls included) and
websockets; a Celery worker with an embedded beat runs background jobs beside it, and
``runmqtt`` the device API over MQTT. Without
``REDIS_URL`` a private Redis on a Unix socket carries pushes and wakes between them
(murano/embedded_redis.py). A worker or embedded Redis that stops is started again; all stop
together on Ctrl-C. Production runs these pieces separately (see docs/operations.md).
"""

import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import first_admin_ensure
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
            try:
                supervisor.start(
                    "the embedded Redis",
                    lambda: embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, log_file=log_file),
                )
            except (OSError, RuntimeError) as error:
                raise CommandError(f"the embedded Redis could not start: {error}")
        if not no_worker and not settings.CELERY_TASK_ALWAYS_EAGER:
            supervisor.start("the Celery worker", self._worker)
        if settings.MQTT_PORT or settings.MQTT_PLAIN_PORT:
            supervisor.start("the MQTT listener", self._mqtt)
        daphne = subprocess.Popen(
            # -v0: no access log line per request (errors still show).
            [sys.executable, "-m", "daphne", "-v0", "-b", host, "-p", str(port), "murano.asgi:application"]
        )
        sys.exit(supervisor.run(daphne))

    @staticmethod
    def _worker() -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "--quiet",  # no start-up banner: runplatform's own says where to log in
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
            # A process group of its own: the supervisor ends the worker's children with it
            # (murano.processes.Supervisor._end_group); Ctrl-C reaches it through runplatform.
            start_new_session=True,
        )  # fmt: skip

    @staticmethod
    def _mqtt() -> subprocess.Popen:
        # A taken port (another broker often holds 1883) is skipped with a message.
        return subprocess.Popen(
            [sys.executable, "manage.py", "runmqtt", "--skip-taken-ports"], cwd=settings.BASE_DIR
        )

    def _ensure_admin(self, host, port):
        """Makes sure someone can log in (``first_admin_ensure``) and prints where and how."""
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        admin = first_admin_ensure(email=email, password=password)
        # A wildcard address is where the server listens, not an address to open.
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
        lines = [f"The platform is starting on {base}/  (stop it with Ctrl-C)"]
        if admin.password:
            lines.append("Created the first admin account:")
        lines.append(f"  Log in at {base}/connectors/")
        if admin.password:
            lines += [
                f"    e-mail:   {admin.user.email}",
                f"    password: {admin.password}",
                "    (shown once; change it after logging in: Change password, top right)",
            ]
        elif email and password:
            lines.append(f"    as {admin.user.email} (password from DJANGO_SUPERUSER_PASSWORD)")
        else:
            lines.append(f"    with your admin account ({admin.user.email})")
        if admin.business:
            lines.append(
                f"  New connectors go to your business “{admin.business.name}” (renamed in the back office)."
            )
        lines += [
            f"  Back office (Django admin): {base}/admin/",
            f"  Management API docs:        {base}/api/docs/",
        ]
        if settings.MQTT_PORT or settings.MQTT_PLAIN_PORT:
            lines.append(
                f"  Devices over MQTT: TLS on port {settings.MQTT_PORT or 'off'} "
                f"(<connector-id>.{settings.DEVICE_API_DOMAIN}), plain TCP on port "
                f"{settings.MQTT_PLAIN_PORT or 'off'} (developer mode)"
            )
        self.stdout.write("\n".join(lines))
