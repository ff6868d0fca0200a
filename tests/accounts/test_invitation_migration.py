"""The migration to invitations: accounts the old flow created for pending invitees (no usable
password, never logged in) become pending invitations again, so no old token or placeholder
account can hand out another business's membership."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("accounts", "0001_initial")]
AFTER = [("accounts", "0002_invitations")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_placeholder_accounts_of_pending_invitees_become_pending_invitations():
    old = migrate(BEFORE)
    User, Business, Membership = (
        old.get_model("accounts", name) for name in ("User", "Business", "Membership")
    )
    acme = Business.objects.create(name="Acme")
    owner = User.objects.create(email="pm@example.com", password="md5$salt$hash")
    invitee = User.objects.create(email="x@corp.example", password="!unusable")
    root = User.objects.create(
        email="root@example.com", password="!unusable", is_superuser=True, is_staff=True
    )
    Membership.objects.create(business=acme, user=owner, role="admin")
    Membership.objects.create(business=acme, user=invitee, role="developer")

    new = migrate(AFTER)

    User, Membership, Invitation = (
        new.get_model("accounts", n) for n in ("User", "Membership", "Invitation")
    )
    assert sorted(User.objects.values_list("email", flat=True)) == [owner.email, root.email]
    assert list(Membership.objects.values_list("user__email", "role")) == [(owner.email, "admin")]
    invitation = Invitation.objects.get()
    assert (invitation.business.name, invitation.email, invitation.role) == (
        "Acme",
        "x@corp.example",
        "developer",
    )
    assert invitation.accepted_at is None and invitation.key_hash
