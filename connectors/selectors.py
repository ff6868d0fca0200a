"""Reads about connectors, always through the one scoping function."""

from django.http import Http404

from accounts.models import User
from accounts.selectors import role_in_business
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
    connector = (
        connectors_for_user(user).select_related("business").filter(pk=connector_id).first()
    )
    if connector is None:
        raise Http404("No such connector.")
    return connector, role_in_business(user=user, business_id=connector.business_id)


def connector_hostnames(connector: Connector) -> list[str]:
    return [h.hostname for h in connector.hostname_set.all()]


def resource_list(*, connector: Connector):
    return Resource.objects.filter(connector=connector).order_by("alias")
