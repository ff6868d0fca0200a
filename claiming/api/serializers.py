"""End users and claim information as the management API shows and takes them."""

from rest_framework import serializers

from claiming.models import EndUser
from core.api import StrictTypes
from core.openapi import documented

USER_DATA_SCHEMA = {
    "type": "object",
    "additionalProperties": True,
    "description": 'free-form options; `app_<app id>`: `{"default": true}` adds that app to the `apps` tag '
    "of the devices the user claims",
}


class EndUserSerializer(serializers.ModelSerializer):
    """An end user of the connector's portal (never their password)."""

    device_count = serializers.SerializerMethodField(help_text="devices whose `users` tag holds this user")
    user_data = documented(serializers.JSONField(read_only=True), USER_DATA_SCHEMA)

    class Meta:
        model = EndUser
        fields = ["id", "email", "name", "verified", "blocked", "created_at", "last_login", "user_data",
                  "device_count"]  # fmt: skip
        read_only_fields = fields

    def get_device_count(self, user: EndUser) -> int:
        return getattr(user, "device_count", None) or 0


class EndUserPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="the next page, or null")
    previous = serializers.URLField(allow_null=True, help_text="the previous page, or null")
    results = EndUserSerializer(many=True)


class EndUserCreateSerializer(StrictTypes, serializers.Serializer):
    """A new end user: the e-mail address is unique in the connector (409 otherwise); without
    a password, the user chooses one from a verification or password-reset link."""

    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    password = serializers.CharField(required=False, write_only=True, max_length=4096, trim_whitespace=False)
    verified = serializers.BooleanField(required=False, default=False)
    user_data = documented(serializers.DictField(required=False, default=dict), USER_DATA_SCHEMA)


class EndUserUpdateSerializer(StrictTypes, serializers.Serializer):
    """Any of the end user's fields; blocking ends their portal sessions."""

    email = serializers.EmailField(max_length=254, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    verified = serializers.BooleanField(required=False)
    blocked = serializers.BooleanField(required=False)
    user_data = documented(serializers.DictField(required=False), USER_DATA_SCHEMA)


class EndUserPasswordSerializer(StrictTypes, serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False, help_text="the new password")


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class ClaimInfoSerializer(serializers.Serializer):
    """A device's claim codes, their links (standard and ExoSense), when they expire, its owners."""

    claim_codes = serializers.ListField(child=serializers.CharField())
    claim_urls = serializers.ListField(
        child=serializers.CharField(),
        help_text="`<portal_url>#/?claim=<code>&product=<connector id>`, per code",
    )
    exosense_codes = serializers.ListField(child=serializers.CharField(), help_text="`<connector id>.<code>`")
    expires = serializers.IntegerField(allow_null=True, help_text="unix seconds: claims after it are refused")
    owners = OwnerSerializer(many=True)


class ClaimCodesGenerateSerializer(StrictTypes, serializers.Serializer):
    generate = documented(
        serializers.BooleanField(help_text="true: give every matching device a fresh random code"),
        {"type": "boolean", "enum": [True]},
    )
