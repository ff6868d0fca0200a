"""The integration API's shapes (for the schema; the views build the JSON in selectors)."""

from rest_framework import serializers

# What PUT takes. The service checks it all (every problem at once); unknown fields are refused,
# so the schema says so. A secret configuration field left out keeps its stored value.
INTEGRATION_PUT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["spec"],
    "properties": {
        "spec": {"type": "string", "description": "the OpenAPI 2 document, YAML or JSON text (≤ 1 MB)"},
        "config": {
            "type": "object",
            "nullable": True,
            "description": "values of the spec's x-exosite-config-parameters",
        },
        "sync": {
            "type": "object",
            "nullable": True,
            "description": "list_operation, state_operation, detail_operation, id_field, id_parameter, "
            "identity (sha256 | asset_id), interval_seconds (≥ 10), config_io, list_field, page_parameter, "
            "next_field, enabled",
        },
        "maintainer_email": {"type": "string", "format": "email", "nullable": True},
    },
}
OPERATION_CALL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "params": {"type": "object", "nullable": True, "description": "the operation's parameters by name"},
        "body": {"description": "the JSON body, for an operation that takes one"},
    },
}


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "unhealthy", "unknown"])
    checked_at = serializers.DateTimeField(allow_null=True)
    changed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class LastSyncErrorSerializer(serializers.Serializer):
    asset = serializers.CharField()
    reason = serializers.CharField()


class LastSyncSerializer(serializers.Serializer):
    job = serializers.UUIDField()
    state = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    assets = serializers.IntegerField()
    done = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = LastSyncErrorSerializer(many=True)
    detail = serializers.CharField(allow_blank=True)


class ConfigFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    format = serializers.CharField(allow_blank=True)
    required = serializers.BooleanField()
    secret = serializers.BooleanField()


class IntegrationSerializer(serializers.Serializer):
    connector = serializers.CharField()
    title = serializers.CharField()
    version = serializers.CharField()
    host = serializers.CharField()
    base_path = serializers.CharField()
    health_path = serializers.CharField()
    spec = serializers.CharField()
    config = serializers.DictField(help_text='secret fields show only {"set": true|false}')
    config_fields = ConfigFieldSerializer(many=True)
    sync = serializers.DictField()
    maintainer_email = serializers.CharField(allow_blank=True)
    health = HealthSerializer()
    last_sync = LastSyncSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ParameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    # "in" is a Python keyword: declared below.
    description = serializers.CharField(allow_blank=True)
    required = serializers.BooleanField()
    type = serializers.CharField(allow_blank=True)
    enum = serializers.ListField(child=serializers.JSONField())
    from_config = serializers.BooleanField(help_text="filled from the configuration; cannot be given")


ParameterSerializer._declared_fields["in"] = serializers.CharField()


class OperationSerializer(serializers.Serializer):
    operation_id = serializers.CharField()
    method = serializers.CharField()
    path = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    parameters = ParameterSerializer(many=True)


class OperationAnswerSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="the third party's HTTP status")
    body = serializers.JSONField(help_text="its JSON (its text when it is not JSON)")
