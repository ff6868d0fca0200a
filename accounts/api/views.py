"""Personal API tokens: create (key shown once), list (no keys), revoke."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import ApiTokenCreatedSerializer, ApiTokenSerializer
from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_delete


class ApiTokenListView(APIView):
    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request):
        return Response(ApiTokenSerializer(request.user.api_tokens.all(), many=True).data)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def post(self, request):
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = api_token_create(user=request.user, name=serializer.validated_data.get("name", ""))
        data = ApiTokenSerializer(token).data
        data["key"] = key
        return Response(data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_id):
        api_token_delete(token=get_object_or_404(ApiToken, pk=token_id, user=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)
