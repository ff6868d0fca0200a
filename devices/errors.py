"""Errors raised by device services; adapters turn them into status codes."""


class DeviceError(Exception):
    """A device request that cannot be honoured. ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.reason = reason


class ProvisionDenied(DeviceError):
    """Activation refused; ``reason`` is machine-readable (shown in the provision_denied event)."""


class ValueRejected(DeviceError):
    """A value does not fit its resource; nothing was written."""


class DuplicateTimestamps(DeviceError):
    """A record request repeats timestamps for an alias (409)."""

    status = 409
