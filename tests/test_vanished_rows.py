"""A change that meets a delete of its object (between the view's lookup and the service's write)
answers "no such …" (404), never a 500: resources, content items, memberships."""

import io

import pytest
from django.db import transaction
from django.http import Http404

from accounts.models import Membership, Role
from accounts.services import membership_remove, membership_update
from connectors.content.services import content_update, content_upload
from connectors.models import ContentItem, Resource
from connectors.services import resource_update
from tests.factories import make_connector, make_member, make_resource

pytestmark = pytest.mark.django_db(transaction=True)


def _gone(instance) -> None:
    """Delete the row behind ``instance``'s back, as a concurrent request would."""
    type(instance)._default_manager.filter(pk=instance.pk).delete()


def test_a_resource_deleted_meanwhile_is_not_found():
    admin = make_member(business_name="Acme", role=Role.ADMIN)
    resource = make_resource(connector=make_connector(business=admin.business), alias="temp", format="number")
    _gone(resource)

    with pytest.raises(Http404, match="No such resource"):
        resource_update(resource=resource, unit="°C")
    assert not Resource.objects.filter(alias="temp").exists()


def test_a_content_item_deleted_meanwhile_is_not_found(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    admin = make_member(business_name="Acme", role=Role.ADMIN)
    connector = make_connector(business=admin.business)
    item, _ = content_upload(connector=connector, content_id="readme.txt", stream=io.BytesIO(b"hello"))
    _gone(item)

    with pytest.raises(Http404, match="No such content"):
        content_update(item=item, description="the manual")
    assert not ContentItem.objects.filter(content_id="readme.txt").exists()


@pytest.mark.parametrize("change", ["update", "remove"])
def test_a_membership_ended_meanwhile_is_not_found(change):
    admin = make_member(business_name="Acme", role=Role.ADMIN)
    member = make_member(business_name="Acme", role=Role.VIEWER)
    _gone(member)

    with pytest.raises(Http404, match="No such member"), transaction.atomic():
        if change == "update":
            membership_update(membership=member, role=Role.DEVELOPER)
        else:
            membership_remove(membership=member)
    assert list(Membership.objects.values_list("role", flat=True)) == [admin.role]
