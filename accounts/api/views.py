"""Management API: personal API tokens, businesses and their members, invitations."""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    BusinessSerializer,
    InvitationAcceptedSerializer,
    InvitationAcceptSerializer,
    MemberCreateSerializer,
    MemberInvitedSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
)
from accounts.authentication import login_throttled_error
from accounts.backends import LoginThrottled, request_address
from accounts.models import ApiToken
from accounts.selectors import (
    ADMIN,
    READ,
    action_for_method,
    business_access,
    businesses_with_role_for_user,
    membership_get,
    membership_list,
)
from core.openapi import ErrorSerializer, conflict, field_errors


class ApiTokenListView(APIView):
    """Your personal API tokens (without keys); POST creates one and shows its key once."""

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request):
        return Response(ApiTokenSerializer(request.user.api_tokens.all(), many=True).data)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def post(self, request):
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = services.api_token_create(
            user=request.user, name=serializer.validated_data.get("name", "")
        )
        data = ApiTokenSerializer(token).data
        data["key"] = key
        return Response(data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    """Revoke one of your tokens."""

    @extend_schema(responses={204: None})
    def delete(self, request, token_id):
        services.api_token_delete(token=get_object_or_404(ApiToken, pk=token_id, user=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


def business_for_request(request, business_id: int, *, action: str = READ):
    """The business named in the URL, annotated with the user's ``role``, through the one access
    check (``business_access``). Membership is managed by admins only: developers and viewers
    may look but not change."""
    return business_access(
        user=request.user, business_id=business_id, action=action,
        admins_only_message="Only business admins may manage members.",
    )  # fmt: skip


def _membership_action(request) -> str:
    return READ if action_for_method(request.method) == READ else ADMIN


class BusinessListView(APIView):
    """The businesses you belong to, with your role in each."""

    @extend_schema(responses=BusinessSerializer(many=True))
    def get(self, request):
        return Response(BusinessSerializer(businesses_with_role_for_user(request.user), many=True).data)


class BusinessDetailView(APIView):
    """One of your businesses, with your role in it."""

    @extend_schema(responses=BusinessSerializer)
    def get(self, request, business_id):
        return Response(BusinessSerializer(business_for_request(request, business_id)).data)


class MemberListView(APIView):
    """The business's members; admins invite people with POST (everyone gets an invitation)."""

    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, business_id):
        business = business_for_request(request, business_id)
        return Response(MemberSerializer(membership_list(business=business), many=True).data)

    @extend_schema(
        request=MemberCreateSerializer,
        responses={201: MemberInvitedSerializer, 409: conflict("The person is a member already.")},
    )
    def post(self, request, business_id):
        business = business_for_request(request, business_id, action="admin")
        serializer = MemberCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, key = services.invitation_create(
            business=business, invited_by=request.user, **serializer.validated_data
        )
        answer = {
            "id": None,
            "email": invitation.email,
            "full_name": "",
            "role": invitation.role,
            "invited": True,
            "created_at": invitation.created_at,
            "invitation": {
                "token": key,
                "accept_url": request.build_absolute_uri(reverse("accounts:invitation", args=[key])),
                "expires_at": invitation.expires_at,
            },
        }
        return Response(MemberInvitedSerializer(answer).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    """One member: read, change role (PATCH) or remove (DELETE); the last admin stays."""

    def _membership(self, request, business_id, member_id):
        business = business_for_request(request, business_id, action=_membership_action(request))
        return membership_get(business=business, membership_id=member_id)

    @extend_schema(responses=MemberSerializer)
    def get(self, request, business_id, member_id):
        return Response(MemberSerializer(self._membership(request, business_id, member_id)).data)

    @extend_schema(
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer, 409: conflict("The business's last admin stays an admin.")},
    )
    def patch(self, request, business_id, member_id):
        membership = self._membership(request, business_id, member_id)
        serializer = MemberUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "role" in serializer.validated_data:
            services.membership_update(membership=membership, role=serializer.validated_data["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(ErrorSerializer, "The business's last admin.")})
    def delete(self, request, business_id, member_id):
        services.membership_remove(membership=self._membership(request, business_id, member_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(APIView):
    """Accept an invitation: for an address without an account, choose its password; for one
    with an account, give that account's password (no login needed: the token is the credential
    for the invitation, the password for the account)."""

    # Whatever Authorization header comes along is irrelevant: the body names who accepts.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=InvitationAcceptSerializer,
        responses={
            200: InvitationAcceptedSerializer,
            400: field_errors("A bad token, or a bad password."),
            429: OpenApiResponse(ErrorSerializer, "Too many wrong passwords for the account."),
        },
    )
    def post(self, request):
        serializer = InvitationAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.invitation_accept(
                key=serializer.validated_data["token"],
                password=serializer.validated_data["password"],
                address=request_address(request),
            )
        except LoginThrottled as throttled:
            raise login_throttled_error(throttled.retry_after) from None
        return Response(InvitationAcceptedSerializer({"email": user.email}).data)
