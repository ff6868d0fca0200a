from rest_framework import serializers

from accounts.models import ApiToken, Business, Membership, Role
from core.api import StrictTypes


class ApiTokenSerializer(StrictTypes, serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at"]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class BusinessSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(
        choices=Role.choices, read_only=True, help_text="Your role in this business."
    )

    class Meta:
        model = Business
        fields = ["id", "name", "role", "created_at"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    """A member of a business; ``id`` is the membership's, as in ``.../members/<id>/``."""

    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True, allow_blank=True)
    invited = serializers.SerializerMethodField(
        help_text="False for members; true only in the answer to an invitation, until it is accepted."
    )

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "invited", "created_at"]
        read_only_fields = fields

    def get_invited(self, membership) -> bool:
        return False


class MemberCreateSerializer(StrictTypes, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateSerializer(StrictTypes, serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Shown once: give it to the person, who accepts at accept_url (a web page) or with "
        "POST /api/v1/invitations/accept/."
    )
    accept_url = serializers.URLField()
    expires_at = serializers.DateTimeField()


class MemberInvitedSerializer(serializers.Serializer):
    """The answer to inviting someone: the same whether or not the address has an account.

    Nobody is a member until they accept, so ``id`` (the membership's) is null until then.
    """

    id = serializers.IntegerField(allow_null=True, read_only=True, help_text="Null until accepted.")
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(read_only=True, allow_blank=True, help_text="Empty until accepted.")
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    invited = serializers.BooleanField(read_only=True, help_text="True: the invitation is pending.")
    created_at = serializers.DateTimeField(read_only=True)
    invitation = InvitationSerializer(read_only=True)


class InvitationAcceptSerializer(StrictTypes, serializers.Serializer):
    token = serializers.CharField(max_length=200)
    password = serializers.CharField(
        max_length=128,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="For an address without an account, the password to choose; for one that has an "
        "account, that account's password.",
    )


class InvitationAcceptedSerializer(serializers.Serializer):
    email = serializers.EmailField()
