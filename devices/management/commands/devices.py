"""``manage.py devices import|export <connector> [file]``: bulk whitelisting from the terminal;
``manage.py devices enable <connector> <identity> [--auth TYPE --cred FILE]``: one device.

``import`` runs the same service as the API's import job, here and now (no worker needed), with
a progress bar on stderr; it prints a summary and every refused row. Exit status 1 when the file
cannot be imported at all, 2 when some rows were refused (the others were imported).
``export`` writes the connector's devices in the same CSV format (to a file or ``-`` for
stdout); importing the export into the same connector changes nothing. Cells a spreadsheet
would run as formulas start with a quote (``core.csv_safety``), which ``import`` takes off.
``enable`` whitelists one device like the Murano CLI's ``device enable``: with ``--auth csr`` the
connector signs the CSR in ``--cred`` and ``{"certificate": "<PEM>"}`` is printed.
"""

import json
import shutil
import sys
import tempfile
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from connectors.models import Connector
from devices import services
from devices.imports import ImportFileError, ImportResult, device_import, devices_csv_export


class ProgressBar:
    """A one-line progress bar redrawn in place (on a terminal; elsewhere one line per update)."""

    def __init__(self, stream, width: int = 30):
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.tty = getattr(stream, "isatty", lambda: False)()

    def draw(self, result: ImportResult) -> None:
        total = result.total or 0
        share = result.done / total if total else 1.0
        filled = int(share * self.width)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} "
            f"{result.done:,}/{total:,} rows, {result.done / elapsed:,.0f} rows/s"
        )
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Import devices from a CSV file (bulk whitelist), or export a connector's devices as CSV."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{import,export,enable}")
        importing = actions.add_parser("import", help="whitelist the devices of a CSV file")
        importing.add_argument("connector", help="connector id")
        importing.add_argument("file", help="CSV file (ID, TLS Client Certificate, Tags); - for stdin")
        importing.add_argument("--quiet", action="store_true", help="no progress bar")
        exporting = actions.add_parser("export", help="write the connector's devices as CSV")
        exporting.add_argument("connector", help="connector id")
        exporting.add_argument("file", nargs="?", default="-", help="where to write (default -, stdout)")
        enabling = actions.add_parser(
            "enable", help="whitelist one device; with --auth csr, print its certificate"
        )
        enabling.add_argument("connector", help="connector id")
        enabling.add_argument("identity", help="the device's identity")
        enabling.add_argument("--auth", choices=["token", "password", "certificate", services.CSR])
        enabling.add_argument(
            "--cred", help="file holding the token, password, certificate (PEM) or CSR (PEM); - for stdin"
        )
        enabling.add_argument("--expire", type=int, help="activation deadline, µs since the epoch")
        enabling.add_argument("--locked", action="store_true", help="whitelist it locked")

    def handle(self, *args, action, connector, file=None, **options):
        found = Connector.objects.filter(pk=connector).first()
        if found is None:
            raise CommandError(f"No connector {connector!r}.")
        if action == "enable":
            self.enable(found, options)
        elif action == "import":
            self.import_file(found, file, quiet=options.get("quiet", False))
        else:
            self.export_file(found, file)

    def import_file(self, connector: Connector, path: str, *, quiet: bool) -> None:
        bar = None if quiet else ProgressBar(self.stderr._out)
        errors_shown = []

        def progress(result: ImportResult, new_errors: list[dict]) -> None:
            errors_shown.extend(new_errors)
            if bar is not None:
                bar.draw(result)

        try:
            with self._open_for_reading(path) as stream:
                result = device_import(connector=connector, file=stream, progress=progress)
        except ImportFileError as exc:
            raise CommandError(f"{exc.message} Nothing was imported.") from None
        finally:
            if bar is not None:
                bar.end()
        for error in errors_shown:
            self.stderr.write(f"line {error['line']}: {error['identity'] or '(no ID)'}: {error['reason']}")
        self.stdout.write(
            f"{result.total:,} rows: {result.created:,} created, {result.updated:,} updated, "
            f"{result.unchanged:,} unchanged, {result.error_count:,} refused."
        )
        if result.error_count:
            raise CommandError(f"{result.error_count:,} rows were refused (listed above).", returncode=2)

    def enable(self, connector: Connector, options: dict) -> None:
        auth, path = options["auth"], options["cred"]
        if auth in ("certificate", services.CSR) and not path:
            raise CommandError(f"--auth {auth} needs --cred: the file with the PEM.")
        key = None
        if path:
            with self._open_for_reading(path) as stream:
                raw = stream.read(1024 * 1024)
            try:
                key = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise CommandError(f"{path} is not a text file.") from None
            if auth not in ("certificate", services.CSR):
                key = key.strip("\r\n")  # a token or password file ends with a newline
        try:
            device = services.device_whitelist(
                connector=connector, identity=options["identity"], auth_type=auth, key=key or None,
                expire_us=options["expire"], locked=options["locked"],
            )  # fmt: skip
        except ValidationError as exc:
            problems = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            lines = [f"{field}: {message}" if field else message for field, messages in problems.items()
                     for message in messages]  # fmt: skip
            raise CommandError("\n".join(lines)) from None
        if auth == services.CSR:
            self.stdout.write(json.dumps({"certificate": device.certificate}))
        else:
            self.stdout.write(json.dumps({"identity": device.identity, "status": device.status}))

    def _open_for_reading(self, path: str):
        if path != "-":
            try:
                return open(path, "rb")  # noqa: SIM115 - closed by the caller's with
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        # The import reads its file twice (count, then import): a pipe is spooled first.
        spool = tempfile.TemporaryFile()
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.seek(0)
        return spool

    def export_file(self, connector: Connector, path: str) -> None:
        if path == "-":
            count = devices_csv_export(connector=connector, out=self.stdout._out)
        else:
            try:
                with open(path, "w", encoding="utf-8", newline="") as out:
                    count = devices_csv_export(connector=connector, out=out)
            except OSError as exc:
                raise CommandError(f"Cannot write {path}: {exc.strerror}.") from None
            self.stderr.write(f"{count:,} devices written to {path}.")
