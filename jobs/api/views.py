"""Management API: background jobs (``/api/v1/jobs/``)."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import integer_schema, query, text_schema
from jobs.api.serializers import JobSerializer, JobSummarySerializer
from jobs.models import JobKind, JobState
from jobs.selectors import job_get_for_user, jobs_for_user

MAX_PAGE_SIZE = 500


class JobPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        # DRF falls back to the default size for a limit it cannot read; say what is wrong.
        values = request.query_params.getlist(self.page_size_query_param)
        if len(values) > 1:
            raise exceptions.ValidationError({"limit": ["give this parameter once"]})
        raw = values[0] if values else ""
        if raw == "":
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            message = f"must be a whole number from 1 to {self.max_page_size}"
            raise exceptions.ValidationError({"limit": [message]})
        return int(raw)

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
            query("connector", text_schema(), "only this connector's jobs"),
            query("state", text_schema(enum=["", *JobState.values])),
            query("kind", text_schema(enum=["", *JobKind.values])),
            query("limit", integer_schema(1, MAX_PAGE_SIZE, blank=True), "page size (default 50)"),
            query("cursor", text_schema(format="cursor"), "opaque: from a page's next/previous URL"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        jobs = jobs_for_user(self.request.user).select_related("created_by")
        params = self.request.query_params
        if params.get("connector"):
            if "\x00" in params["connector"]:
                raise exceptions.ValidationError({"connector": ["must not contain NUL characters"]})
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
