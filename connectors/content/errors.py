"""Errors of the content store that adapters answer with their own status codes."""


class ContentTooLarge(Exception):
    """An upload is over ``CONTENT_MAX_BYTES`` (or a package over its own limit): ``413``.
    Raised while the upload streams in; nothing of it is kept."""

    def __init__(self, limit: int, what: str = "a content item"):
        super().__init__(f"{what} must be smaller than {limit + 1:,} bytes")
        self.limit = limit
        self.message = str(self)


class UploadInterrupted(Exception):
    """The client stopped sending before the end of its upload; nothing of it is kept."""


class ContentForbidden(Exception):
    """A device may not write this item (someone else's, or a firmware package): ``403``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
