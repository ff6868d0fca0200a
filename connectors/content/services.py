"""Every change to the content store goes through these functions: uploads (management API,
UI, ``manage.py content``, device API) and deletions.

An upload streams into a new storage object while it is counted, hashed and held to the size
limit; only when all of it is stored does one transaction point the item's row at it (and drop
the object it replaces, once committed). A refused or broken upload leaves nothing behind:
no row, no object, and the item it would have replaced is untouched.
"""

import io
import mimetypes
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.content import storage
from connectors.content.errors import ContentForbidden, ContentTooLarge
from connectors.content.packages import (
    CONTENT_ID,
    PACKAGE_MAX_BYTES,
    is_package_id,
    package_metadata_parse,
)
from connectors.hooks import package_uploaded
from connectors.models import CONTENT_ID_MAX_LENGTH, Connector, ContentItem
from core.db import row_lock

# type/subtype with optional parameters; no commas (the device API's info line is CSV).
_MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}"
_MIME = re.compile(rf"^{_MIME_TOKEN}/{_MIME_TOKEN}(\s*;\s*[^,\x00-\x1f\x7f]*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def content_id_clean(content_id) -> str:
    """A valid content id, or ``ValidationError({"id": ...})``.

    Letters, digits, ``.``, ``_`` and ``-``, starting with a letter, digit or ``_``; at most
    128 characters. No ``/`` and no leading dot: ids travel in URLs and in the device API's
    CSV list, and never name a path."""
    if not isinstance(content_id, str) or not content_id:
        raise ValidationError({"id": "a content id is required"})
    if len(content_id) > CONTENT_ID_MAX_LENGTH:
        raise ValidationError({"id": f"a content id has at most {CONTENT_ID_MAX_LENGTH} characters"})
    if not CONTENT_ID.match(content_id):
        raise ValidationError(
            {"id": "use letters, digits, '.', '_' and '-', starting with a letter, digit or '_'"}
        )
    return content_id


def content_type_clean(content_type: str | None, content_id: str) -> str:
    """The item's MIME type: the one given, else a guess from the id, else octet-stream."""
    content_type = (content_type or "").strip()
    if not content_type:
        if is_package_id(content_id):
            return "application/json"
        return mimetypes.guess_type(content_id)[0] or DEFAULT_CONTENT_TYPE
    if len(content_type) > 255 or not _MIME.match(content_type):
        raise ValidationError({"content_type": "must be a MIME type such as application/octet-stream"})
    return content_type


def description_clean(description) -> str:
    if not isinstance(description, str):
        raise ValidationError({"description": "must be a string"})
    if len(description) > 1000:
        raise ValidationError({"description": "must be at most 1000 characters"})
    if _CONTROL.search(description):
        # The device API's info answer is one CSV line.
        raise ValidationError({"description": "must be one line, without control characters"})
    return description


def content_upload(
    *,
    connector: Connector,
    content_id: str,
    stream,
    content_type: str | None = None,
    description: str | None = None,
    length: int | None = None,
    device_identity: str = "",
) -> tuple[ContentItem, bool]:
    """Store ``stream`` (anything with ``read(n)``) as the item ``content_id``, replacing the
    item of that id if there is one; returns the item and whether it is new.

    ``length`` is the size the client announced (refused at once when over the limit, and the
    stream must deliver all of it). ``description`` None keeps a replaced item's description.
    ``device_identity``: a device uploads (device API) — it may create items and replace its
    own uploads, never people's nor firmware packages (``ContentForbidden``).

    Raises ``ValidationError`` (bad id, type, description, package metadata),
    ``ContentTooLarge`` and ``UploadInterrupted``.
    """
    content_id = content_id_clean(content_id)
    content_type = content_type_clean(content_type, content_id)
    if description is not None:
        description = description_clean(description)
    limit = settings.CONTENT_MAX_BYTES
    package = None
    if is_package_id(content_id):
        limit = min(limit, PACKAGE_MAX_BYTES)
    if length is not None and length > limit:
        raise ContentTooLarge(
            limit, "a firmware package" if limit < settings.CONTENT_MAX_BYTES else "a content item"
        )
    if device_identity:
        _check_device_may_write(connector, content_id, device_identity)

    reader = storage.MeteredReader(stream, limit=limit, content_type=content_type, expected=length)
    if is_package_id(content_id):
        # Metadata is small: read it, validate it, and store exactly those bytes.
        try:
            data = reader.read()
        except ContentTooLarge:
            raise ContentTooLarge(limit, "a firmware package") from None
        try:
            package = package_metadata_parse(data)
        except ValidationError as exc:
            raise ValidationError({"file": exc.messages}) from None
        reader = storage.MeteredReader(io.BytesIO(data), limit=limit, content_type=content_type)
    storage_name = storage.content_save(connector_id=connector.pk, reader=reader)
    try:
        item, created = _content_row_save(
            connector, content_id, storage_name=storage_name, size=reader.size, sha256=reader.sha256,
            content_type=content_type, description=description, package=package,
            device_identity=device_identity,
        )  # fmt: skip
    except BaseException:
        storage.content_delete_object(storage_name)
        raise
    return item, created


def _check_device_may_write(connector: Connector, content_id: str, identity: str) -> None:
    if is_package_id(content_id):
        raise ContentForbidden("devices cannot upload firmware packages")
    owner = (
        ContentItem.objects.filter(connector=connector, content_id=content_id)
        .values_list("uploaded_by_device", flat=True)
        .first()
    )
    if owner is not None and owner != identity:
        raise ContentForbidden("this content item was not uploaded by this device")


@transaction.atomic
def _content_row_save(connector: Connector, content_id: str, *, storage_name: str, size: int,
                      sha256: str, content_type: str, description: str | None, package: dict | None,
                      device_identity: str) -> tuple[ContentItem, bool]:  # fmt: skip
    """Point the item's row at its new object (creating the row if needed)."""
    now = timezone.now()
    item = ContentItem.objects.select_for_update().filter(connector=connector, content_id=content_id).first()
    created = False
    if item is None:
        item = ContentItem(
            connector=connector, content_id=content_id, created_at=now, storage_name=storage_name,
            content_type=content_type, size=size, sha256=sha256, description=description or "",
            package=package, uploaded_by_device=device_identity, updated_at=now,
        )  # fmt: skip
        try:
            with transaction.atomic():
                item.save(force_insert=True)
        except IntegrityError:
            # A concurrent upload of the same id created it first: replace that one.
            item = ContentItem.objects.select_for_update().get(connector=connector, content_id=content_id)
        else:
            _package_uploaded(connector, content_id, package, previous=None)
            return item, True
    if device_identity and item.uploaded_by_device != device_identity:
        raise ContentForbidden("this content item was not uploaded by this device")
    replaced = item.storage_name
    previous_package = item.package
    item.storage_name = storage_name
    item.content_type = content_type
    item.size = size
    item.sha256 = sha256
    item.package = package
    item.updated_at = now
    if description is not None:
        item.description = description
    item.save(
        update_fields=[
            "storage_name",
            "content_type",
            "size",
            "sha256",
            "package",
            "updated_at",
            "description",
        ]
    )
    transaction.on_commit(lambda: storage.content_delete_object(replaced))
    _package_uploaded(connector, content_id, package, previous=previous_package)
    return item, created


def _package_uploaded(connector: Connector, content_id: str, package: dict | None, *, previous: dict | None):
    """Announce a firmware package whose metadata is new (``connectors.hooks.package_uploaded``);
    the same document uploaded again announces nothing."""
    if package is not None and package != previous:
        package_uploaded.send(connector=connector, content_id=content_id, package=package)


@transaction.atomic
def content_update(*, item: ContentItem, description: str | None = None,
                   content_type: str | None = None) -> ContentItem:  # fmt: skip
    """Change an item's description or MIME type (its bytes stay)."""
    row_lock(item, missing="No such content.")
    fields = []
    if description is not None:
        item.description = description_clean(description)
        fields.append("description")
    if content_type is not None:
        item.content_type = content_type_clean(content_type, item.content_id)
        fields.append("content_type")
    if fields:
        item.updated_at = timezone.now()
        item.save(update_fields=[*fields, "updated_at"])
    return item


@transaction.atomic
def content_delete(*, item: ContentItem) -> None:
    """Delete an item and, once that is committed, its stored object."""
    storage_name = item.storage_name
    item.delete()
    transaction.on_commit(lambda: storage.content_delete_object(storage_name))


def content_purge_connector_on_commit(connector_id: str) -> None:
    """After a connector's deletion commits, remove its stored objects (its rows cascade)."""
    transaction.on_commit(lambda: storage.content_purge_connector(connector_id))
