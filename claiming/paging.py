"""Keyset pages of a connector's end users, in (e-mail, id) order: the management API's list and
the End Users tab page the same way, and a page costs the same on page 1 as on page 1,000."""

import base64
import binascii
import json
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from claiming.models import EndUser

MAX_CURSOR_LENGTH = 1024


class EndUserPage(NamedTuple):
    users: list[EndUser]
    next_cursor: str | None
    previous_cursor: str | None


def _encode(user: EndUser, forward: bool) -> str:
    raw = json.dumps(["n" if forward else "p", user.email, user.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[bool, str, int]:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, email, pk = json.loads(raw)
        if direction not in ("n", "p") or not isinstance(email, str) or not isinstance(pk, int):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": ["not a page of this list"]}) from None
    return direction == "n", email, pk


def end_user_page(users: QuerySet, *, cursor: str | None, limit: int) -> EndUserPage:
    """A page of ``users`` in (e-mail, id) order, after (or, for a ``previous`` cursor, before)
    the user ``cursor`` names; ``ValidationError`` naming ``cursor`` for one that is not ours."""
    forward, email, pk = (True, None, None) if not cursor else _decode(cursor)
    if email is not None:
        if forward:
            users = users.filter(Q(email__gt=email) | Q(email=email, pk__gt=pk))
        else:
            users = users.filter(Q(email__lt=email) | Q(email=email, pk__lt=pk))
    ordered = users.order_by("email", "pk") if forward else users.order_by("-email", "-pk")
    rows = list(ordered[: limit + 1])
    more, rows = len(rows) > limit, rows[:limit]
    if not forward:
        rows.reverse()
    has_next = more if forward else email is not None
    has_previous = email is not None if forward else more
    return EndUserPage(
        users=rows,
        next_cursor=_encode(rows[-1], True) if rows and has_next else None,
        previous_cursor=_encode(rows[0], False) if rows and has_previous else None,
    )
