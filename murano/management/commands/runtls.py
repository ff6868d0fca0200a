"""``manage.py runtls`` (``make run-tls``): the platform behind a local nginx that terminates TLS
and forwards devices' client certificates, so certificate devices can be tried on one machine.

nginx (Debian's package) listens on ``--tls-port`` with a server certificate generated under
``$MURANO_VAR_DIR/tls/`` (and the CA that signed it, for clients to trust); the embedded server
(``runplatform``) listens on ``--port`` behind it, trusting 127.0.0.1 as its proxy. Both stop
together on Ctrl-C.
"""

import os
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.selfsigned import server_certificate_ensure
from murano.localtls import nginx_binary, nginx_config_write
from murano.processes import stop_children_on_signals

INSTRUCTIONS = """
Devices: https://<connector-id>.{domain}:{tls_port}/ (nginx, TLS with client certificates)
Web UI and API: https://127.0.0.1:{tls_port}/ (or http://127.0.0.1:{port}/ directly)
Clients trust {ca} (curl --cacert; browsers: import it, or accept the warning).

Try a certificate device:
  1. a connector that authenticates devices by certificate:
       curl --cacert {ca} -u <email> -H 'Content-Type: application/json' \\
         -d '{{"name": "TLS demo", "provisioning": {{"auth_type": "certificate"}}}}' \\
         https://127.0.0.1:{tls_port}/api/v1/connectors/
  2. a device certificate whose CN is the identity (as in Murano's tutorial):
       openssl req -x509 -nodes -days 365 -sha256 -subj /CN=00000002 -newkey rsa:2048 \\
         -keyout device-key.pem -out device-cert.pem
  3. its first write provisions it (Logs shows "provisioned", then "data_in"):
       curl -i --cacert {ca} --cert device-cert.pem --key device-key.pem \\
         --resolve <connector-id>.{domain}:{tls_port}:127.0.0.1 \\
         https://<connector-id>.{domain}:{tls_port}/onep:v1/stack/alias -d temp=21
See docs/tls.md for a connector CA and CSR signing.
"""


def _shown(path) -> str:
    """``path`` relative to the project when it is inside it (var/tls/...), else absolute."""
    relative = os.path.relpath(path, settings.BASE_DIR)
    return str(path) if relative.startswith("..") else relative


class Command(BaseCommand):
    help = "Serve the platform behind a local nginx with TLS and client certificates (make run-tls)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="where nginx listens")
        parser.add_argument("--tls-port", type=int, default=int(os.environ.get("TLS_PORT", "8443")))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="app server"
        )
        parser.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")

    def handle(self, *args, host, tls_port, port, no_worker, **options):
        nginx = nginx_binary()
        if nginx is None:
            raise CommandError("nginx is not installed (Debian/Ubuntu: apt-get install nginx).")
        prefix = settings.VAR_DIR / "tls"
        paths = server_certificate_ensure(prefix, domain=settings.DEVICE_API_DOMAIN)
        config = nginx_config_write(
            prefix, listen=f"{host}:{tls_port}", upstream=f"127.0.0.1:{port}",
            certificate=paths["certificate"], key=paths["key"], access_log=True,
        )  # fmt: skip
        tested = subprocess.run(
            [nginx, "-t", "-q", "-p", str(prefix), "-c", str(config)], capture_output=True
        )
        if tested.returncode != 0:
            raise CommandError(f"nginx refused {config}:\n{tested.stderr.decode(errors='replace')}")

        # The app believes X-SSL-Client-Cert and X-Forwarded-* from this nginx only.
        env = {**os.environ, "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES") or "127.0.0.1/32"}
        platform = [sys.executable, "manage.py", "runplatform", "--host", "127.0.0.1", "--port", str(port)]
        children = [
            subprocess.Popen(
                [*platform, *(["--no-worker"] if no_worker else [])], env=env, cwd=settings.BASE_DIR
            ),
            subprocess.Popen([nginx, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"]),
        ]
        self.stdout.write(
            INSTRUCTIONS.format(
                domain=settings.DEVICE_API_DOMAIN,
                tls_port=tls_port,
                port=port,
                ca=_shown(paths["ca"]),
            )  # fmt: skip
        )

        stop = stop_children_on_signals(children)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        stop()
        for child in children:
            child.wait()
        sys.exit(max(child.returncode or 0 for child in children))
