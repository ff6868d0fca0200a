"""Reads about connectors, always through the one scoping function."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from accounts.models import Business, Membership, User
from accounts.selectors import businesses_for_user, role_can_write, role_in_business
from connectors.models import Connector, Resource


def connectors_for_user(user: User):
    """The connectors ``user`` may see: their businesses' (all of them for a superuser).

    Every view, API view and consumer goes through this; someone else's connector is simply
    not there (404), so its existence does not leak.
    """
    if not user.is_authenticated:
        return Connector.objects.none()
    if user.is_superuser:
        return Connector.objects.all()
    return Connector.objects.filter(business__memberships__user=user)


def connector_get_for_user(*, user: User, connector_id: str) -> tuple[Connector, str]:
    """The connector and the user's role in its business; ``Http404`` if they may not see it."""
    connector = connectors_for_user(user).select_related("business").filter(pk=connector_id).first()
    if connector is None:
        raise Http404("No such connector.")
    return connector, role_in_business(user=user, business_id=connector.business_id)


def business_for_new_connector(*, user: User, business_id: int | None) -> Business:
    """The business a new connector of ``user``'s goes to.

    Named (``business_id``): one the user may see (else "no such business", whether it exists or
    not) and may write to (else ``PermissionDenied``). Not named: the user's business when they
    belong to exactly one; never a guess between several, nor one a superuser merely sees.
    """
    if business_id is not None:
        business = businesses_for_user(user).filter(pk=business_id).first()
        if business is None:
            raise ValidationError({"business": "No such business."})
    else:
        business = business_default_for_new_connector(user=user)
        if business is None:
            several = Membership.objects.filter(user=user).exists()
            problem = "You belong to several businesses; say" if several else "Say"
            raise ValidationError({"business": f"{problem} which business owns the connector."})
    if not role_can_write(role_in_business(user=user, business_id=business.pk)):
        raise PermissionDenied("Your role in this business is read-only.")
    return business


def business_default_for_new_connector(*, user: User) -> Business | None:
    """The business a new connector goes to when the user names none: theirs when they belong
    to exactly one business, else None (the UI then offers a choice; the API asks for one)."""
    memberships = list(Membership.objects.filter(user=user).select_related("business")[:2])
    return memberships[0].business if len(memberships) == 1 else None


def connector_hostnames(connector: Connector) -> list[str]:
    return [h.hostname for h in connector.hostname_set.all()]


def resource_list(*, connector: Connector):
    return Resource.objects.filter(connector=connector).order_by("alias")
