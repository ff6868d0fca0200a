"""Multipart uploads of content (management API, UI form) held to the size limit while they
stream in.

Django's default handlers would write any amount to a temporary file before a view could look
at its size; ``ContentUploadHandler`` refuses a body whose announced length is over the limit
before reading it, and stops an upload the moment its file part passes the limit. It keeps
the one file part named ``file`` on disk (a temporary file, removed when closed); other file
parts are dropped.
"""

from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers

from connectors.content.errors import ContentTooLarge

# Room for the multipart framing and the small text fields beside the file.
MULTIPART_SLACK = 1024 * 1024


class ContentUploadHandler(FileUploadHandler):
    """Streams the ``file`` part to disk, counting; ``ContentTooLarge`` past ``limit`` bytes.

    Other file parts are read (and counted) but dropped. Never raises ``SkipFile``: Django's
    parser would then close every handler's file, the finished ``file`` part too."""

    field_name = "file"

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.file = None
        self._current = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + MULTIPART_SLACK:
            raise ContentTooLarge(self.limit)
        return None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None,
                 content_type_extra=None):  # fmt: skip
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self._current = None
        if field_name == self.field_name and self.file is None:
            self.file = self._current = TemporaryUploadedFile(
                self.file_name, self.content_type, 0, self.charset, self.content_type_extra
            )
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.upload_interrupted()
            raise ContentTooLarge(self.limit)
        if self._current is not None:
            self._current.write(raw_data)
        return None

    def file_complete(self, file_size):
        current, self._current = self._current, None
        if current is None:
            return None
        current.seek(0)
        current.size = file_size
        return current

    def upload_interrupted(self):
        if self.file is not None:
            self.file.close()  # removes the temporary file


def content_upload_handlers(request, *, limit: int) -> None:
    """Install the content upload handler on a Django request, before anything reads its body."""
    request.upload_handlers = [ContentUploadHandler(request, limit=limit)]
