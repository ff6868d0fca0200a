"""A third party's API description: an OpenAPI 2 (Swagger) document with ``x-exosite-*`` extensions.

``spec_load`` parses the text (YAML or JSON) and checks it, reporting every problem at once with
its place in the document: first that it is valid Swagger 2.0 (``openapi-spec-validator``), then
the rules an integration needs (the seed's): ``info`` with a title, version and description; a
description on every operation, parameter and schema property; ``type`` and ``description`` at
every schema level; an ``operationId`` on each operation; HTTPS only; JSON only.

What it returns, ``Spec``, is what the rest of the app reads: the host and base path, the
configuration fields (``x-exosite-config-parameters``), Basic authentication's fields, the health
path and the operations with their parameters (``$ref``s resolved).

A spec is written by a tenant: only references inside the document are followed (a ``$ref`` to a
URL would make the platform fetch it), YAML aliases are refused (a few lines of them expand to
gigabytes), and the text is limited in size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

SPEC_MAX_BYTES = 1024 * 1024
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
JSON = "application/json"
# What a configuration field may be (``x-exosite-config-parameters``' ``type``).
CONFIG_TYPES = ("string", "integer", "number", "boolean")


class SpecInvalid(Exception):
    """The document has problems: ``problems`` lists them all as ``"<where>: <what>"``."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ConfigField:
    name: str
    description: str
    type: str = "string"
    format: str = ""
    required: bool = False

    @property
    def secret(self) -> bool:
        return self.format == "password"


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header, body
    description: str
    required: bool
    type: str = ""  # for body parameters, the schema's type
    enum: tuple = ()
    schema: dict | None = None  # body parameters


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    description: str
    parameters: tuple[Parameter, ...]

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name and p.location != "body"), None)

    @property
    def body(self) -> Parameter | None:
        return next((p for p in self.parameters if p.location == "body"), None)


@dataclass(frozen=True)
class Spec:
    document: dict
    title: str
    version: str
    host: str
    base_path: str
    health_path: str
    config_fields: tuple[ConfigField, ...]
    basic_user_field: str = ""
    basic_secret_field: str = ""
    operations: dict[str, Operation] = field(default_factory=dict)

    def config_field(self, name: str) -> ConfigField | None:
        return next((f for f in self.config_fields if f.name == name), None)

    @property
    def config_query_parameters(self) -> list[str]:
        """The configuration fields some operation sends in its query (a token in the query)."""
        return sorted(
            {
                p.name
                for operation in self.operations.values()
                for p in operation.parameters
                if p.location == "query" and self.config_field(p.name) is not None
            }
        )

    @property
    def secret_fields(self) -> set[str]:
        return {f.name for f in self.config_fields if f.secret}


# --- parsing ------------------------------------------------------------------------------------


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a "billion laughs" document is refused, not expanded."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "YAML aliases (*name) are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def spec_parse(text: str) -> dict:
    """The document in ``text`` (JSON or YAML), or ``SpecInvalid``."""
    if not isinstance(text, str) or not text.strip():
        raise SpecInvalid(["spec: paste the API's OpenAPI 2 document (YAML or JSON)"])
    if len(text.encode()) > SPEC_MAX_BYTES:
        raise SpecInvalid([f"spec: the document is larger than {SPEC_MAX_BYTES // 1024} KB"])
    try:
        if text.lstrip().startswith("{"):
            document = json.loads(text)
        else:
            document = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a safe loader)
    except json.JSONDecodeError as exc:
        raise SpecInvalid([f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "spec"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecInvalid([f"{where}: not valid YAML ({problem})"]) from None
    except RecursionError:
        raise SpecInvalid(["spec: the document is nested too deeply"]) from None
    if not isinstance(document, dict):
        raise SpecInvalid(["spec: the document must be an object (swagger, info, paths, …)"])
    return document


# --- locations ----------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _where(parts) -> str:
    """A readable place in the document: ``paths["/assets/{id}"].get.parameters[0]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text or "(document)"


# --- references ---------------------------------------------------------------------------------


def _pointer_get(document: dict, ref: str):
    """What a local ``$ref`` (``#/definitions/Asset``) points at; KeyError when nothing."""
    node = document
    for raw in ref[2:].split("/") if ref != "#" else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)] if token.isdigit() and int(token) < len(node) else _missing()
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            _missing()
    return node


def _missing():
    raise KeyError("nothing there")


def _ref_problems(document: dict) -> list[str]:
    """Every ``$ref`` must point inside the document, at something that exists."""
    problems = []

    def walk(node, parts):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
                    problems.append(f"{_where(parts)}: only references inside the document (#/…) are allowed")
                else:
                    try:
                        _pointer_get(document, ref)
                    except (KeyError, ValueError):
                        problems.append(f"{_where(parts)}: {ref} points at nothing in the document")
            for key, value in node.items():
                walk(value, [*parts, key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*parts, index])

    walk(document, [])
    return problems


def _resolve(document: dict, node, seen: frozenset = frozenset()):
    """``node`` with a top-level ``$ref`` followed (checked by ``_ref_problems`` first)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen:
            return {}
        seen = seen | {ref}
        try:
            node = _pointer_get(document, ref)
        except (KeyError, ValueError, IndexError, TypeError):
            return {}  # a reference to nothing: reported by _ref_problems
    return node


# --- the rules ----------------------------------------------------------------------------------


def _swagger_problems(document: dict) -> list[str]:
    """What a maintained Swagger 2.0 validator finds (after the references were checked)."""
    if document.get("swagger") != "2.0":
        return ['swagger: must be "2.0" (an OpenAPI 2 document)']
    problems = []
    try:
        for error in OpenAPIV2SpecValidator(document).iter_errors():
            path = list(getattr(error, "absolute_path", None) or getattr(error, "path", None) or [])
            message = str(getattr(error, "message", None) or error).split("\n", 1)[0]
            problems.append(f"{_where(path)}: {message[:300]}")
            if len(problems) >= 50:
                break
    except RecursionError:
        problems.append("spec: the document's references loop without end")
    except Exception as exc:  # the validator gave up on something it could not read
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        problems.append(f"spec: the document could not be validated ({first_line[:200]})")
    return problems


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _schema_problems(document: dict, schema, parts: list, seen: frozenset = frozenset()) -> list[str]:
    """``type`` and ``description`` at every level of a JSON schema, and a description on each
    property (following ``$ref``s, each once on a path)."""
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen:
            return []
        seen = seen | {ref}
        try:
            target = _pointer_get(document, ref)
        except (KeyError, ValueError):
            return []
        # A property's own description may sit beside its $ref; the target still needs one.
        where = (
            [token.replace("~1", "/").replace("~0", "~") for token in ref[2:].split("/")]
            if ref != "#"
            else []
        )
        return _schema_problems(document, target, where, seen)
    if not isinstance(schema, dict):
        return [f"{_where(parts)}: a schema must be an object"]
    problems = []
    if not _text(schema.get("type")):
        problems.append(f"{_where(parts)}: every schema level needs a type")
    if not _text(schema.get("description")):
        problems.append(f"{_where(parts)}: every schema level needs a description")
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, prop in properties.items():
            problems += _schema_problems(document, prop, [*parts, "properties", name], seen)
    items = schema.get("items")
    if isinstance(items, dict):
        problems += _schema_problems(document, items, [*parts, "items"], seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        problems += _schema_problems(document, extra, [*parts, "additionalProperties"], seen)
    for key in ("allOf",):
        for index, sub in enumerate(schema.get(key) or []):
            problems += _schema_problems(document, sub, [*parts, key, index], seen)
    return problems


def _media_problems(node: dict, parts: list) -> list[str]:
    problems = []
    for key in ("consumes", "produces"):
        value = node.get(key)
        if value is not None and (not isinstance(value, list) or any(v != JSON for v in value)):
            problems.append(f"{_where([*parts, key])}: only {JSON} is supported")
    return problems


def _integration_problems(document: dict) -> list[str]:
    """The seed's rules for a document that becomes a service."""
    problems = []
    info = document.get("info") if isinstance(document.get("info"), dict) else {}
    for key in ("title", "version", "description"):
        if not _text(info.get(key)) and not (key == "version" and isinstance(info.get(key), int | float)):
            problems.append(f"info.{key}: is required")
    host = document.get("host")
    if not _text(host):
        problems.append("host: is required (the API's host name, with a port if not 443)")
    elif not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", host) or host.startswith(("-", ".")):
        problems.append("host: must be a host name with an optional port (no scheme, no path)")
    base_path = document.get("basePath", "/")
    if not isinstance(base_path, str) or not base_path.startswith("/"):
        problems.append("basePath: must start with /")
    if document.get("schemes") != ["https"]:
        problems.append("schemes: must be [https]: the API must be reached over HTTPS only")
    for key in ("consumes", "produces"):
        if document.get(key) != [JSON]:
            problems.append(f"{key}: must be [{JSON}]")
    health = document.get("x-exosite-health-path")
    if health is not None and (not isinstance(health, str) or not health.startswith("/")):
        problems.append("x-exosite-health-path: must be a path starting with /")
    problems += _config_problems(document)
    problems += _security_problems(document)
    operation_ids: dict[str, str] = {}
    paths = document.get("paths") if isinstance(document.get("paths"), dict) else {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for index, parameter in enumerate(shared if isinstance(shared, list) else []):
            problems += _parameter_problems(document, parameter, ["paths", path, "parameters", index])
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            parts = ["paths", path, method]
            operation_id = operation.get("operationId")
            if not _text(operation_id):
                problems.append(f"{_where(parts)}: needs an operationId")
            elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}", operation_id):
                problems.append(f"{_where([*parts, 'operationId'])}: letters, digits, _ . - only (≤ 100)")
            elif operation_id in operation_ids:
                problems.append(
                    f"{_where([*parts, 'operationId'])}: {operation_id} is already used by "
                    f"{operation_ids[operation_id]}"
                )
            else:
                operation_ids[operation_id] = _where(parts)
            if not _text(operation.get("description")):
                problems.append(f"{_where(parts)}: needs a description")
            problems += _media_problems(operation, parts)
            if operation.get("schemes") is not None and operation.get("schemes") != ["https"]:
                problems.append(f"{_where([*parts, 'schemes'])}: must be [https]")
            for index, parameter in enumerate(operation.get("parameters") or []):
                problems += _parameter_problems(document, parameter, [*parts, "parameters", index])
            responses = operation.get("responses") if isinstance(operation.get("responses"), dict) else {}
            for code, response in responses.items():
                response = _resolve(document, response)
                if isinstance(response, dict) and "schema" in response:
                    problems += _schema_problems(
                        document, response["schema"], [*parts, "responses", str(code), "schema"]
                    )
    if not operation_ids and not any("needs an operationId" in p for p in problems):
        problems.append("paths: the API has no operation")
    return problems


def _parameter_problems(document: dict, parameter, parts: list) -> list[str]:
    if isinstance(parameter, dict) and isinstance(parameter.get("$ref"), str):
        parameter = _resolve(document, parameter)
    if not isinstance(parameter, dict):
        return []
    problems = []
    if not _text(parameter.get("description")):
        problems.append(f"{_where(parts)}: every parameter needs a description")
    if parameter.get("in") == "body" and "schema" in parameter:
        problems += _schema_problems(document, parameter["schema"], [*parts, "schema"])
    if parameter.get("in") == "formData":
        problems.append(f"{_where(parts)}: form parameters are not supported (JSON only)")
    return problems


def _config_problems(document: dict) -> list[str]:
    raw = document.get("x-exosite-config-parameters")
    if raw is None:
        return []
    if not isinstance(raw, list):
        return ["x-exosite-config-parameters: must be a list of fields"]
    problems, names = [], set()
    for index, item in enumerate(raw):
        parts = ["x-exosite-config-parameters", index]
        if not isinstance(item, dict):
            problems.append(f"{_where(parts)}: must be an object (name, description, type, …)")
            continue
        name = item.get("name")
        if not _text(name) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
            problems.append(f"{_where([*parts, 'name'])}: a name of letters, digits and _ is required")
        elif name in names:
            problems.append(f"{_where([*parts, 'name'])}: {name} is defined twice")
        else:
            names.add(name)
        if not _text(item.get("description")):
            problems.append(f"{_where(parts)}: needs a description")
        if item.get("type", "string") not in CONFIG_TYPES:
            problems.append(f"{_where([*parts, 'type'])}: must be one of {', '.join(CONFIG_TYPES)}")
        if not isinstance(item.get("required", False), bool):
            problems.append(f"{_where([*parts, 'required'])}: must be true or false")
    return problems


def _security_problems(document: dict) -> list[str]:
    definitions = document.get("securityDefinitions")
    if not isinstance(definitions, dict):
        return []
    raw = document.get("x-exosite-config-parameters")
    raw = raw if isinstance(raw, list) else []
    names = {c.get("name") for c in raw if isinstance(c, dict) and isinstance(c.get("name"), str)}
    problems = []
    for name, definition in definitions.items():
        parts = ["securityDefinitions", name]
        if not isinstance(definition, dict):
            continue
        if definition.get("type") == "basic":
            for key in ("x-exosite-user-field", "x-exosite-secret-field"):
                value = definition.get(key)
                if not _text(value):
                    problems.append(f"{_where([*parts, key])}: names the configuration field to use")
                elif value not in names:
                    problems.append(f"{_where([*parts, key])}: {value} is not in x-exosite-config-parameters")
        else:
            problems.append(
                f"{_where([*parts, 'type'])}: only basic authentication is supported here; a token goes in a "
                "path or query parameter named after a configuration field"
            )
    return problems


# --- loading ------------------------------------------------------------------------------------


def spec_load(text: str) -> Spec:
    """Parse and check ``text``; the ``Spec`` it describes, or ``SpecInvalid`` with every problem."""
    document = spec_parse(text)
    problems = _ref_problems(document)
    if not problems:
        problems = _swagger_problems(document)
    try:
        problems += _integration_problems(document)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, RecursionError):
        # A document malformed in a way the rules could not walk: what the validator said (or
        # this) is the problem to fix first.
        if not problems:
            problems.append("spec: the document's structure could not be read (is it Swagger 2.0?)")
    if problems:
        raise SpecInvalid(list(dict.fromkeys(problems)))
    return spec_read(document)


def spec_read(document: dict) -> Spec:
    """The ``Spec`` of a document ``spec_load`` accepted (read again from storage)."""
    config_fields = tuple(
        ConfigField(
            name=item["name"],
            description=item.get("description", ""),
            type=item.get("type", "string"),
            format=item.get("format", "") or "",
            required=bool(item.get("required", False)),
        )  # fmt: skip
        for item in document.get("x-exosite-config-parameters") or []
    )
    user_field = secret_field = ""
    for definition in (document.get("securityDefinitions") or {}).values():
        if definition.get("type") == "basic":
            user_field = definition.get("x-exosite-user-field", "")
            secret_field = definition.get("x-exosite-secret-field", "")
    base_path = document.get("basePath", "/") or "/"
    operations = {}
    for path, item in (document.get("paths") or {}).items():
        shared = [_resolve(document, p) for p in item.get("parameters") or []]
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict) or not operation.get("operationId"):
                continue
            merged = {(p.get("name"), p.get("in")): p for p in shared}
            for parameter in operation.get("parameters") or []:
                parameter = _resolve(document, parameter)
                merged[(parameter.get("name"), parameter.get("in"))] = parameter
            operations[operation["operationId"]] = Operation(
                operation_id=operation["operationId"],
                method=method.upper(),
                path=path,
                description=operation.get("description", ""),
                parameters=tuple(_parameter(document, p) for p in merged.values()),
            )
    return Spec(
        document=document,
        title=str(document["info"]["title"]),
        version=str(document["info"]["version"]),
        host=document["host"],
        base_path=base_path,
        health_path=document.get("x-exosite-health-path") or "",
        config_fields=config_fields,
        basic_user_field=user_field,
        basic_secret_field=secret_field,
        operations=operations,
    )


def _parameter(document: dict, raw: dict) -> Parameter:
    schema = None
    kind = raw.get("type", "")
    enum = tuple(raw.get("enum") or ())
    if raw.get("in") == "body":
        schema = _inline(document, raw.get("schema") or {})
        kind = schema.get("type", "") if isinstance(schema, dict) else ""
    return Parameter(
        name=raw.get("name", ""), location=raw.get("in", ""), description=raw.get("description", ""),
        required=bool(raw.get("required", False)) or raw.get("in") == "path", type=kind, enum=enum,
        schema=schema,
    )  # fmt: skip


def _inline(document: dict, schema, depth: int = 0):
    """A schema with its ``$ref``s replaced by what they point at (to a bounded depth: a
    recursive definition stops being expanded, which only loosens the check of a call's body)."""
    if depth > 12:
        return {}
    schema = _resolve(document, schema)
    if isinstance(schema, dict):
        return {key: _inline(document, value, depth + 1) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(document, value, depth + 1) for value in schema]
    return schema
