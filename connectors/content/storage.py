"""Where content bytes live: Django's default storage, local files or S3 (django-storages).

Uploads stream into storage through a ``MeteredReader``, which counts and hashes the bytes as
they pass and stops at the size limit; downloads stream out in chunks, a byte range at a time,
without reading a whole item into memory (S3's own ``Range`` GET; a seek on local files).
Keys are ``content/<connector id>/<random hex>``: never derived from an item's id.
"""

import hashlib
import logging
import uuid
from collections.abc import Iterator

from django.core.files.storage import Storage, storages

from connectors.content.errors import ContentTooLarge, UploadInterrupted

logger = logging.getLogger(__name__)

# Big enough that a 50 MB download is a few dozen writes, small enough to keep memory flat.
CHUNK_SIZE = 512 * 1024


def content_storage() -> Storage:
    """The storage of content items (the default storage: ``STORAGES["default"]``)."""
    return storages["default"]


def storage_key(connector_id: str) -> str:
    return f"content/{connector_id}/{uuid.uuid4().hex}"


def _s3(storage: Storage):
    """The storage as an ``S3Storage`` when it is one (else None)."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # boto3 missing: S3 is not configured either
        return None
    return storage if isinstance(storage, S3Storage) else None


class MeteredReader:
    """A read-only, non-seekable file over an upload stream (anything with ``read(n)``).

    Counts and hashes (SHA-256) the bytes that pass, and raises ``ContentTooLarge`` as soon as
    more than ``limit`` bytes came in, so a storage backend reading from it stops there too.
    ``read(n)`` returns ``n`` bytes unless the stream ends: S3 multipart parts must be full.
    ``expected`` is the length the client announced; a stream that ends short of it was cut
    off (``UploadInterrupted``).
    """

    def __init__(self, source, *, limit: int, content_type: str = "", expected: int | None = None):
        self.source = source
        self.limit = limit
        self.expected = expected
        self.content_type = content_type
        self.name = "upload"
        self.size = 0
        self.closed = False
        self._sha256 = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        want = CHUNK_SIZE if size is None or size < 0 else size
        parts, got = [], 0
        while size is None or size < 0 or got < want:
            chunk = self.source.read(want - got if size is not None and size >= 0 else CHUNK_SIZE)
            if not chunk:
                if self.expected is not None and self.size < self.expected:
                    raise UploadInterrupted(f"the upload ended after {self.size} of {self.expected} bytes")
                break
            self.size += len(chunk)
            if self.size > self.limit:
                raise ContentTooLarge(self.limit)
            self._sha256.update(chunk)
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        while True:
            chunk = self.read(chunk_size or CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.closed = True


def content_save(*, connector_id: str, reader: MeteredReader) -> str:
    """Stream ``reader`` into a new storage object; its key. Nothing is left behind when the
    stream fails (over the limit, cut off, a storage error)."""
    storage = content_storage()
    key = storage_key(connector_id)
    try:
        return storage.save(key, reader)
    except BaseException:
        content_delete_object(key)
        raise


def content_delete_object(storage_name: str) -> None:
    """Remove one stored object; a missing one is already gone."""
    try:
        content_storage().delete(storage_name)
    except FileNotFoundError:
        pass
    except Exception:
        # The item row is what people and devices see; a stray object only costs space.
        logger.exception("could not delete content object %s", storage_name)


def content_purge_connector(connector_id: str) -> None:
    """Remove every stored object of a (deleted) connector."""
    storage = content_storage()
    prefix = f"content/{connector_id}"
    try:
        _, files = storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        content_delete_object(f"{prefix}/{name}")


class ContentStream:
    """Bytes ``start``..``end`` (inclusive) of a stored object, as an iterator of chunks.

    Opened at once, so a missing object fails before a response starts (``FileNotFoundError``);
    read lazily, a chunk at a time. ``close()`` releases the file or the S3 connection, also
    when a client goes away half way.
    """

    def __init__(self, storage_name: str, start: int, end: int, chunk_size: int = CHUNK_SIZE):
        self.remaining = max(0, end - start + 1)
        self.chunk_size = chunk_size
        self._file = None
        self._body = None
        if not self.remaining:
            return
        storage = content_storage()
        s3 = _s3(storage)
        if s3 is not None:
            from botocore.exceptions import ClientError
            from storages.utils import clean_name

            key = s3._normalize_name(clean_name(storage_name))
            try:
                response = s3.connection.meta.client.get_object(
                    Bucket=s3.bucket_name, Key=key, Range=f"bytes={start}-{end}"
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "InvalidRange"):
                    raise FileNotFoundError(storage_name) from None
                raise
            self._body = response["Body"]
        else:
            self._file = storage.open(storage_name, "rb")
            self._file.seek(start)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self.remaining <= 0:
            self.close()
            raise StopIteration
        size = min(self.chunk_size, self.remaining)
        chunk = self._body.read(size) if self._body is not None else self._file.read(size)
        if not chunk:
            self.close()
            # The object is shorter than its row says: the response cannot be completed.
            raise OSError("stored content is shorter than recorded")
        self.remaining -= len(chunk)
        return chunk

    def close(self) -> None:
        for handle in (self._file, self._body):
            if handle is not None:
                try:
                    handle.close()
                except Exception:
                    pass
        self._file = self._body = None
