from rest_framework import serializers

from jobs.models import Job


class JobErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, help_text="line of the file where the refused row starts")
    asset = serializers.CharField(required=False, help_text="an integration sync's asset id")
    identity = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    """A job as scripts and the UI poll it. ``total`` is null until the worker has counted the
    rows; ``done`` counts rows handled (imported, unchanged or refused)."""

    connector = serializers.CharField(source="connector_id", allow_null=True, read_only=True)
    created_by = serializers.SerializerMethodField()
    errors = JobErrorSerializer(many=True, read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "kind", "state", "connector", "file_name", "total", "done", "created", "updated",
            "unchanged", "error_count", "errors", "detail", "created_by", "created_at", "updated_at",
            "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by(self, job: Job) -> str | None:
        return job.created_by.email if job.created_by_id else None


class JobSummarySerializer(JobSerializer):
    """A job in a list: everything but the error rows (read them on the job itself)."""

    class Meta(JobSerializer.Meta):
        fields = [f for f in JobSerializer.Meta.fields if f != "errors"]
        read_only_fields = fields
