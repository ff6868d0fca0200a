"""End users of a claiming connector, their portal sessions and their one-time links.

End users are not platform accounts: each claiming connector has its own directory of them
(the seed's End Users tab), they log in on the connector's portal only, and nothing of theirs
opens ``/connectors/``, ``/admin/`` or ``/api/v1/``. Ownership itself lives in device tags
(``users``: end-user ids, ``claim_code``, ``expires``, ``apps``), which product managers may edit
as any tag; ``claiming.services`` reads and writes them.
"""

import hashlib
import secrets

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

SESSION_TOKEN_PREFIX = "eus_"  # end-user session
LINK_KEY_PREFIX = "eul_"  # end-user one-time link (verify an address, set a password)


def key_new(prefix: str) -> str:
    """A new random secret key with its kind's prefix."""
    return prefix + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    # Long random keys: a fast hash is enough (as accounts' API tokens).
    return hashlib.sha256(key.encode()).hexdigest()


class EndUser(models.Model):
    """Someone who owns (or may claim) devices of one connector, on its portal."""

    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="end_users")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    # Django's password hash (make_password); "" until the person chooses one (verify link).
    password_hash = models.CharField(max_length=128, blank=True)
    verified = models.BooleanField(default=False, help_text="The e-mail address was confirmed.")
    blocked = models.BooleanField(default=False, help_text="Cannot log in; sessions are revoked.")
    # Free-form options; ``app_<app id>`` → ``{"default": true}`` adds that app to claimed devices.
    user_data = models.JSONField(default=dict, blank=True)
    # Tell them by e-mail when a newer firmware package is uploaded (they can turn it off).
    firmware_emails = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email", "id"]
        constraints = [
            # One account per address and connector, whatever its case.
            models.UniqueConstraint("connector", Lower("email"), name="end_user_email_unique"),
        ]

    def __str__(self):
        return f"{self.email} ({self.connector_id})"


class EndUserSession(models.Model):
    """A portal session: ``Authorization: Token <key>`` or the portal's cookie. Only the key's
    hash is stored; blocking the user or changing their password deletes their sessions."""

    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self):
        return f"session of {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class LinkPurpose(models.TextChoices):
    VERIFY = "verify", "Verify the e-mail address (and choose a password)"
    PASSWORD_RESET = "password_reset", "Choose a new password"


class EndUserLink(models.Model):
    """A one-time link sent by e-mail (the welcome e-mail's, a password reset's): only the key's
    hash is stored; it works once, until ``expires_at``."""

    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="links")
    purpose = models.CharField(max_length=16, choices=LinkPurpose.choices)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "one-time link"

    def __str__(self):
        return f"{self.purpose} link of {self.user}"
