"""URL converters shared by every app's routes (registered once, in ``CoreConfig.ready``)."""


class UrlSegment:
    """``<segment:...>``: one path segment (ids, identities). Never a NUL, which names nothing
    and which PostgreSQL refuses even in a lookup: such a path is simply not found."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class UrlRest(UrlSegment):
    """``<rest:...>``: the rest of the path, slashes included (aliases may hold a ``/``)."""

    regex = "[^\x00]+"
