"""Any operation of an integration's spec, called on demand (the API and the tab's tester).

The caller's parameters are checked against the spec first (unknown ones, missing required
ones, types and enums, the body against its schema); the parameters named after configuration
fields are filled from the configuration and may not be given. The third party's own status and
JSON come back as they are; ``CallFailed`` when it cannot be reached.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError

from integrations.client import Answer, ThirdParty
from integrations.models import Integration
from integrations.services import integration_config, integration_spec
from integrations.spec import Operation, Spec


class NoSuchOperation(Exception):
    pass


def operations_list(spec: Spec) -> list[dict]:
    """The spec's operations, as the API lists them (in the document's order)."""
    return [
        {
            "operation_id": operation.operation_id,
            "method": operation.method,
            "path": operation.path,
            "description": operation.description,
            "parameters": [
                {
                    "name": p.name,
                    "in": p.location,
                    "description": p.description,
                    "required": p.required,
                    "type": p.type,
                    "enum": list(p.enum),
                    "from_config": p.location != "body" and spec.config_field(p.name) is not None,
                }  # fmt: skip
                for p in operation.parameters
            ],
        }
        for operation in spec.operations.values()
    ]


def _coerce(kind: str, value, enum: tuple):
    """``value`` as the parameter's type (a form sends text), or ValueError saying why not."""
    if isinstance(value, dict | list) or value is None:
        raise ValueError("must be a single value")
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ValueError("must be a whole number")
        value = number
    elif kind == "number":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            value = float(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError("must be a number") from None
        if not isinstance(value, int | float) or value != value:
            raise ValueError("must be a number")
    elif kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
    elif isinstance(value, bool):
        raise ValueError("must be a text")
    else:
        value = str(value)
    if enum and value not in enum and str(value) not in [str(e) for e in enum]:
        raise ValueError(f"must be one of {', '.join(str(e) for e in enum)}")
    return value


def _body_problems(schema: dict, body) -> list[str]:
    """What is wrong with ``body`` by the operation's schema (the first 20 problems). A schema
    the validator cannot use (the spec's checks let it through) checks nothing: the third party
    judges the body then."""
    try:
        errors = sorted(Draft4Validator(schema).iter_errors(body), key=lambda e: [str(p) for p in e.path])
    except (SchemaError, RecursionError, TypeError, ValueError):
        return []
    problems = []
    for error in errors[:20]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path).lstrip(".")
        problems.append(f"{where or '(body)'}: {error.message[:200]}")
    return problems


def call_check(spec: Spec, operation: Operation, params, body) -> dict:
    """The parameter values to send, or ``ValidationError`` naming every problem."""
    errors: dict[str, list[str]] = {}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": "must be an object of parameter values"})
    values = {}
    for name, value in params.items():
        parameter = operation.parameter(name)
        if parameter is None:
            errors.setdefault("params", []).append(f"{name}: {operation.operation_id} has no such parameter")
        elif spec.config_field(name) is not None:
            errors.setdefault("params", []).append(
                f"{name}: filled from the configuration; it cannot be set here"
            )
        else:
            try:
                values[name] = _coerce(parameter.type, value, parameter.enum)
            except ValueError as exc:
                errors.setdefault("params", []).append(f"{name}: {exc}")
    for parameter in operation.parameters:
        if parameter.location == "body" or not parameter.required or spec.config_field(parameter.name):
            continue
        if parameter.name not in params:
            errors.setdefault("params", []).append(f"{parameter.name}: is required")
    body_parameter = operation.body
    if body_parameter is None:
        if body is not None:
            errors["body"] = [f"{operation.operation_id} takes no body"]
    elif body is None:
        if body_parameter.required:
            errors["body"] = [f"is required ({body_parameter.description})"]
    elif isinstance(body_parameter.schema, dict):
        problems = _body_problems(body_parameter.schema, body)
        if problems:
            errors["body"] = problems
    if errors:
        raise ValidationError(errors)
    return values


def operation_call(*, integration: Integration, operation_id: str, params=None, body=None) -> Answer:
    """Call ``operation_id`` of the integration's spec; its ``Answer`` (any status), or
    ``ValidationError`` (bad parameters), ``NoSuchOperation``, ``CallFailed`` (unreachable)."""
    spec = integration_spec(integration)
    operation = spec.operations.get(operation_id)
    if operation is None:
        raise NoSuchOperation(operation_id)
    values = call_check(spec, operation, params, body)
    with ThirdParty(spec, integration_config(integration), retries=0) as api:
        return api.call(operation, values, body)
