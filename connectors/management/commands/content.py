"""``manage.py content upload|list|info|delete|download <connector> …``: the content store from
the terminal, like the Murano CLI's ``murano content`` commands.

    manage.py content list <connector>
    manage.py content upload <connector> <file> [--id ID] [--description TEXT] [--type MIME]
    manage.py content info <connector> <id>
    manage.py content download <connector> <id> [--output FILE]   (default: stdout)
    manage.py content delete <connector> <id>

Runs the same services as the API and the UI (size limit, ids, package metadata); a refused
upload stores nothing. Exit status 1 with a message on any refusal.
"""

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from connectors.content import services
from connectors.content.errors import ContentTooLarge
from connectors.content.selectors import content_get, content_list, content_open
from connectors.models import Connector


class Command(BaseCommand):
    help = "List, upload, inspect, download and delete a connector's content items."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{list,upload,info,download,delete}"
        )
        listing = actions.add_parser("list", help="the connector's items: id, size, type, description")
        listing.add_argument("connector", help="connector id")
        uploading = actions.add_parser("upload", help="upload a file (an existing id is replaced)")
        uploading.add_argument("connector", help="connector id")
        uploading.add_argument("file", help="the file to upload")
        uploading.add_argument("--id", dest="content_id", help="content id (default: the file's name)")
        uploading.add_argument("--description", help="one line of text")
        uploading.add_argument("--type", dest="content_type", help="MIME type (default: guessed)")
        for name, text in (("info", "one item's details"), ("delete", "delete an item"),
                           ("download", "write an item's bytes to a file or stdout")):  # fmt: skip
            sub = actions.add_parser(name, help=text)
            sub.add_argument("connector", help="connector id")
            sub.add_argument("content_id", metavar="id", help="content id")
            if name == "download":
                sub.add_argument("--output", "-o", default="-", help="where to write (default -, stdout)")

    def handle(self, *args, action, connector, **options):
        connector_obj = Connector.objects.filter(pk=connector).first()
        if connector_obj is None:
            raise CommandError(f"No connector {connector!r}.")
        try:
            getattr(self, f"_{action}")(connector_obj, **options)
        except Http404:
            raise CommandError(f"No content item {options.get('content_id')!r} in {connector}.") from None
        except ValidationError as exc:
            messages = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            raise CommandError(
                "; ".join(f"{k}: {m}" if k else m for k, ms in messages.items() for m in ms)
            ) from None
        except ContentTooLarge as exc:
            raise CommandError(exc.message.capitalize() + ".") from None

    def _list(self, connector, **options):
        for item in content_list(connector=connector):
            package = f" [package {item.package['config_otau']['version']}]" if item.package else ""
            self.stdout.write(
                f"{item.content_id}\t{item.size}\t{item.content_type}\t{item.updated_at:%Y-%m-%d %H:%M:%S}"
                f"\t{item.description}{package}"
            )

    def _upload(self, connector, *, file, content_id, description, content_type, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        with path.open("rb") as stream:
            item, created = services.content_upload(
                connector=connector, content_id=content_id or path.name, stream=stream,
                content_type=content_type, description=description, length=path.stat().st_size,
            )  # fmt: skip
        verb = "Uploaded" if created else "Replaced"
        self.stdout.write(
            f"{verb} {item.content_id}: {item.size} bytes, {item.content_type}, sha256 {item.sha256}"
        )

    def _info(self, connector, *, content_id, **options):
        item = content_get(connector=connector, content_id=content_id)
        lines = [
            ("id", item.content_id), ("type", item.content_type), ("size", item.size),
            ("sha256", item.sha256), ("updated", item.updated_at.isoformat()),
            ("description", item.description),
        ]  # fmt: skip
        if item.package:
            lines.append(("package", item.package["config_otau"]["version"]))
        for name, value in lines:
            self.stdout.write(f"{name}: {value}")

    def _download(self, connector, *, content_id, output, **options):
        item = content_get(connector=connector, content_id=content_id)
        stream, _ = content_open(item=item)
        try:
            if output == "-":
                target = sys.stdout.buffer
                for chunk in stream:
                    target.write(chunk)
                target.flush()
            else:
                with open(output, "wb") as target:
                    for chunk in stream:
                        target.write(chunk)
                self.stderr.write(f"Wrote {item.size} bytes to {output}")
        finally:
            stream.close()

    def _delete(self, connector, *, content_id, **options):
        item = content_get(connector=connector, content_id=content_id)
        services.content_delete(item=item)
        self.stdout.write(f"Deleted {content_id}")
