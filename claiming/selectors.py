"""Reads about end users and what they own: the one access rule of the portal.

An end user's devices are those of their connector whose ``users`` tag holds their id; they are
found from the tag index (``tag_search_identity``: connector, name, value, identity), the path
the device list's ``tag=users:<id>`` filter takes. Any other device, of this connector or of
another, is a plain 404 to them: never "exists but not yours".
"""

from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce
from django.http import Http404
from django.utils import timezone

from claiming.models import EndUser, EndUserLink, key_hash
from claiming.services.claims import TAG_USERS
from connectors.models import Connector
from devices.filters.sql import tag_rows
from devices.models import Device, DeviceTag


def end_users_for_connector(connector: Connector, q: str | None = None) -> QuerySet:
    """The connector's end users (e-mail order), those whose e-mail or name contains ``q``."""
    users = EndUser.objects.filter(connector=connector)
    q = (q or "").strip()
    if q:
        users = users.filter(Q(email__icontains=q) | Q(name__icontains=q))
    return users.order_by("email", "id")


def end_users_with_device_count(users: QuerySet) -> QuerySet:
    """``users`` annotated with ``device_count`` (devices whose ``users`` tag holds their id),
    one subquery on the tag index per user."""
    owned = (
        DeviceTag.objects.filter(
            connector_id=OuterRef("connector_id"),
            name=TAG_USERS,
            value=Cast(OuterRef("pk"), output_field=CharField()),
        )  # fmt: skip
        .order_by()
        .values("name")
        .annotate(n=Count("id"))
        .values("n")
    )
    return users.annotate(device_count=Coalesce(Subquery(owned), 0))


def end_user_get(connector: Connector, user_id) -> EndUser:
    """The connector's end user ``user_id``, or ``Http404("No such end user.")``."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise Http404("No such end user.") from None
    user = EndUser.objects.filter(connector=connector, pk=user_id).first()
    if user is None:
        raise Http404("No such end user.")
    return user


def end_user_by_email(connector: Connector, email: str) -> EndUser | None:
    """The connector's end user with this e-mail address (whatever its case), or None."""
    return EndUser.objects.filter(connector=connector, email__iexact=(email or "").strip()).first()


def users_tag_value(*, connector: Connector, text: str) -> str | None:
    """The ``users`` tag value an owner's e-mail typed in the Devices tab stands for (their
    end-user id), or None for anything else (``devices.hooks.tag_value_typed``)."""
    if "@" not in text:
        return None
    user = end_user_by_email(connector, text)
    return str(user.pk) if user else None


def devices_of_end_user(user: EndUser) -> QuerySet:
    """The devices ``user`` owns (identity order), through the ``users`` tag's index."""
    owned = tag_rows(user.connector, TAG_USERS, str(user.pk)).filter(device=OuterRef("pk"))
    return Device.objects.filter(connector_id=user.connector_id).filter(Exists(owned)).order_by("identity")


def device_of_end_user(user: EndUser, identity: str) -> Device:
    """The device ``identity`` when ``user`` owns it, else ``Http404("No such device.")`` (one
    that exists but is someone else's looks exactly like one that does not exist)."""
    device = (
        Device.objects.select_related("connector")
        .filter(connector_id=user.connector_id, identity=identity)
        .filter(Exists(tag_rows(user.connector, TAG_USERS, str(user.pk)).filter(device=OuterRef("pk"))))
        .first()
    )
    if device is None:
        raise Http404("No such device.")
    return device


def device_owners(device: Device) -> list[EndUser]:
    """The end users whose id is in the device's ``users`` tag (ids that are not a user of its
    connector, typed by hand, are left out)."""
    ids = [
        int(v)
        for v in DeviceTag.objects.filter(device=device, name=TAG_USERS).values_list("value", flat=True)
        if v.isdigit()
    ]
    return list(EndUser.objects.filter(connector_id=device.connector_id, pk__in=ids).order_by("email"))


def link_user(connector: Connector, key: str, purpose: str) -> EndUser | None:
    """The end user of a one-time link that ``link_use`` would accept now (unused, unexpired,
    of ``purpose`` and of ``connector``), without using it: the portal's pages show a link's
    form on GET and use the link on POST only (mail scanners fetch links)."""
    link = (
        EndUserLink.objects.select_related("user")
        .filter(
            key_hash=key_hash(key or ""),
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__connector=connector,
        )
        .first()
    )
    return link.user if link is not None else None
