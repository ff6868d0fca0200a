"""Management API: background jobs (``/api/v1/jobs/``)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.serializers import JobSerializer, JobSummarySerializer
from jobs.models import JobKind, JobState
from jobs.selectors import job_get_for_user, jobs_for_user


class JobPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def decode_cursor(self, request):
        # A cursor that is not one of ours is bad input (400), not a missing page (404).
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None


class JobListView(ListAPIView):
    """The jobs of your businesses, newest first (without their error rows)."""

    serializer_class = JobSummarySerializer
    pagination_class = JobPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("connector", OpenApiTypes.STR, description="only this connector's jobs"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=JobState.values),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=JobKind.values),
            OpenApiParameter("limit", OpenApiTypes.INT, description="page size, 1–500 (default 50)"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        jobs = jobs_for_user(self.request.user).select_related("created_by")
        params = self.request.query_params
        if params.get("connector"):
            jobs = jobs.filter(connector_id=params["connector"])
        for name, choices in (("state", JobState.values), ("kind", JobKind.values)):
            value = params.get(name)
            if value:
                if value not in choices:
                    raise exceptions.ValidationError({name: [f"must be one of {', '.join(choices)}"]})
                jobs = jobs.filter(**{name: value})
        return jobs


class JobDetailView(APIView):
    """One job: its state, its counts and the rows it refused."""

    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id):
        return Response(JobSerializer(job_get_for_user(user=request.user, job_id=job_id)).data)
