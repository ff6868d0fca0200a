from rest_framework import serializers

from accounts.models import ApiToken, Business, Membership, Role


class ApiTokenSerializer(serializers.ModelSerializer):
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
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    invited = serializers.SerializerMethodField(
        help_text="True until the person accepts the invitation and chooses a password."
    )

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "invited", "created_at"]
        read_only_fields = fields

    def get_invited(self, membership) -> bool:
        return not membership.user.has_usable_password()


class MemberCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Shown once: give it to the person, who sets a password with it at accept_url."
    )
    accept_url = serializers.URLField()
    expires_at = serializers.DateTimeField()


class MemberAddedSerializer(MemberSerializer):
    invitation = InvitationSerializer(
        allow_null=True,
        read_only=True,
        help_text="For someone who has no password yet (a new account); null for people who can log in.",
    )

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "invitation"]
        read_only_fields = fields


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class InvitationAcceptedSerializer(serializers.Serializer):
    email = serializers.EmailField()
