"""``manage.py runmqtt``: the device API over MQTT (shared/docs/mqtt.md), in the foreground.

TLS on ``MQTT_PORT`` (the connector chosen by the server name), plain TCP on
``MQTT_PLAIN_PORT`` for developer-mode connectors; ``0`` turns a listener off. ``make run``
starts it beside the web server; production runs it as processes of its own (docs/operations.md).
"""

import asyncio
import errno
import resource
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.mqtt.server import MqttServer


class Command(BaseCommand):
    help = "Serve the device API over MQTT (TLS and, for developer-mode connectors, plain TCP)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.MQTT_HOST)
        parser.add_argument("--port", type=int, default=settings.MQTT_PORT, help="TLS port (0: off)")
        parser.add_argument(
            "--plain-port", type=int, default=settings.MQTT_PLAIN_PORT, help="plain TCP port (0: off)"
        )
        parser.add_argument(
            "--skip-taken-ports", action="store_true",
            help="a port already in use is skipped with a message (make run), instead of an error",
        )  # fmt: skip

    def handle(self, *args, host, port, plain_port, skip_taken_ports, **options):
        self.skip_taken_ports = skip_taken_ports
        self._raise_open_files_limit()
        try:
            asyncio.run(self._serve(host, port, plain_port))
        except KeyboardInterrupt:
            pass

    def _raise_open_files_limit(self) -> None:
        """Each device connection is an open file: raise the soft limit (often 1,024) to the
        hard one, and say so when even that is below ``MQTT_MAX_CONNECTIONS``."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        if soft != resource.RLIM_INFINITY and soft < settings.MQTT_MAX_CONNECTIONS:
            self.stderr.write(
                f"runmqtt: at most {soft} open files (ulimit -n): fewer connections than "
                f"MQTT_MAX_CONNECTIONS ({settings.MQTT_MAX_CONNECTIONS}) fit"
            )

    async def _serve(self, host: str, port: int, plain_port: int) -> None:
        server = MqttServer()
        listeners = {"TLS": port, "plain TCP": plain_port}
        bound = {}
        for name, number in listeners.items():
            if not number:
                continue
            listen = server.listen_tls if name == "TLS" else server.listen_plain
            try:
                bound[name] = await listen(host, number)
            except OSError as error:
                if error.errno != errno.EADDRINUSE or not self.skip_taken_ports:
                    raise CommandError(f"MQTT ({name}) cannot listen on {host}:{number}: {error}")
                # Another broker often holds 1883: say so and go on without this listener.
                self.stderr.write(
                    f"runmqtt: {host}:{number} is already in use (another MQTT broker?); "
                    f"no MQTT {name} listener. Free it, or set another port in the environment."
                )
        if not bound:
            self.stderr.write("runmqtt: no MQTT listener (MQTT_PORT and MQTT_PLAIN_PORT are 0 or taken).")
        for name, number in bound.items():
            self.stdout.write(f"runmqtt: MQTT ({name}) on {host}:{number}")
        if "TLS" in bound and not settings.MQTT_TLS_CERT:
            self.stdout.write(f"runmqtt: self-signed server certificate; devices trust {server.ca_file()}")
        self.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await server.stop()
