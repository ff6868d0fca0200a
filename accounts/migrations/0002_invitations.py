"""Invitations become their own rows, and accounts no longer exist before someone accepts.

Until now, inviting an address without an account created a password-less account with the
membership already in place, and an invitation token was only "set this account's password":
a token issued by one business set the password of an account that another business had
invited, and so handed over that business's membership (issue #11, item 1). Now an invitation
(business, address, role, hashed key) grants membership in its own business only when accepted.

Accounts the old flow created and nobody ever used (no usable password, never logged in, not
staff) are turned back into what they were: a pending invitation per membership (with a key
nobody holds, expired: the admin invites again to get a fresh one) and no account.
"""

import django.db.models.deletion
import hashlib
import secrets
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def unclaimed_accounts_to_invitations(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Membership = apps.get_model("accounts", "Membership")
    Invitation = apps.get_model("accounts", "Invitation")
    unclaimed = User.objects.filter(
        password__startswith="!", last_login__isnull=True, is_staff=False, is_superuser=False
    )
    now = timezone.now()
    for membership in Membership.objects.filter(user__in=unclaimed).select_related("user"):
        Invitation.objects.create(
            business_id=membership.business_id,
            email=membership.user.email.lower(),
            role=membership.role,
            key_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            expires_at=now,
        )
    unclaimed.delete()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(max_length=254, verbose_name='e-mail address')),
                ('role', models.CharField(choices=[('admin', 'Admin'), ('developer', 'Developer'), ('viewer', 'Viewer')], default='viewer', max_length=16)),
                ('key_hash', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField()),
                ('accepted_at', models.DateTimeField(blank=True, null=True)),
                ('accepted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='invitations_accepted', to=settings.AUTH_USER_MODEL)),
                ('business', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='accounts.business')),
                ('invited_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='invitations_sent', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('accepted_at__isnull', True)), fields=('business', 'email'), name='invitation_one_pending_per_business_and_address')],
            },
        ),
        migrations.RunPython(unclaimed_accounts_to_invitations, migrations.RunPython.noop),
    ]
