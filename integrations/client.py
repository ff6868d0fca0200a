"""Calls to a third party's API, made safely: the one way this app reaches outside.

The rules (docs/integrations.md, "Outbound calls"):

- **Only the spec's host.** Every request goes to the ``host`` of the integration's spec, under
  HTTPS with the certificate verified (the system's CAs, plus ``INTEGRATIONS_CA_BUNDLE``).
- **No SSRF.** A spec is written by a tenant, so the host name is resolved here and every address
  it has must be public: loopback, private, link-local, multicast, reserved and unspecified
  addresses are refused (unless ``INTEGRATIONS_ALLOW_PRIVATE_HOSTS``, for development and tests).
  The connection then goes to the address that was checked (the name is only sent for TLS and
  in ``Host``), so a DNS answer that changes between the check and the connection (rebinding)
  cannot send it elsewhere.
- **Redirects** are followed only to the same host (at most 3); one to another host is an error.
- **Bounded:** a timeout on each request (``INTEGRATIONS_TIMEOUT``), at most
  ``INTEGRATIONS_RETRIES`` retries with exponential backoff for idempotent requests that timed
  out, could not connect or got a 5xx, and answers larger than ``INTEGRATIONS_MAX_RESPONSE_BYTES``
  are cut off with an error.
- **Secrets stay secret:** the configuration's secret values never appear in an error message
  or a log line (a token in a path is shown as ``•••``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, urljoin, urlsplit

import certifi
import httpx
from django.conf import settings

from integrations.spec import Operation, Spec

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
REDACTED = "•••"


class CallFailed(Exception):
    """The third party could not be reached, or answered something unusable; ``reason`` says
    what in a few words (secrets redacted), ``status`` is its HTTP status when it answered."""

    def __init__(self, reason: str, *, status: int | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.unreachable = unreachable


class HostRefused(CallFailed):
    """The spec's host is not one the platform may call (a private address, say)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: object  # parsed JSON; the text when it was not JSON; None when empty

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@cache
def _ssl_context(ca_bundle: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def address_refusal(address: str) -> str | None:
    """Why the platform may not call ``address`` (an IP), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    for test, what in (
        ("is_loopback", "a loopback"), ("is_link_local", "a link-local"), ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"), ("is_reserved", "a reserved"), ("is_private", "a private"),
    ):  # fmt: skip
        if getattr(ip, test):
            return f"{what} address"
    if not ip.is_global:
        return "a non-public address"
    return None


def host_resolve(host: str) -> tuple[str, int, str]:
    """``(name, port, address)`` for a spec's ``host`` (``name[:port]``): the address to connect
    to, checked; ``HostRefused`` when the platform may not call it."""
    name, _, port_text = host.rpartition(":") if ":" in host else (host, "", "443")
    port = int(port_text) if port_text.isdigit() else 443
    if not 0 < port < 65536:
        raise HostRefused(f"{host}: no such port")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CallFailed(f"{name} could not be resolved ({exc.strerror or exc})", unreachable=True) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    # IPv4 first: a test server, or a host with a broken IPv6 route, answers there.
    addresses.sort(key=lambda a: ":" in a)
    if not getattr(settings, "INTEGRATIONS_ALLOW_PRIVATE_HOSTS", False):
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                raise HostRefused(
                    f"{name} resolves to {refusal} ({address}): the platform only calls public hosts"
                )
    if not addresses:
        raise CallFailed(f"{name} has no address", unreachable=True)
    return name, port, addresses[0]


class ThirdParty:
    """A session with one integration's API: ``call`` an operation, or ``get`` a path (health).

    ``config`` holds the configuration's values, secrets decrypted; it fills Basic
    authentication and the parameters named after configuration fields. Use as a context
    manager (the connection pool is closed at the end), or call ``close``.
    """

    def __init__(self, spec: Spec, config: dict, *, retries: int | None = None):
        self.spec = spec
        self.config = config
        self.retries = settings.INTEGRATIONS_RETRIES if retries is None else retries
        self._secrets = sorted(
            (str(config[name]) for name in spec.secret_fields if config.get(name) not in (None, "")),
            key=len,
            reverse=True,
        )
        self._resolved: tuple[str, int, str] | None = None
        self._client = httpx.Client(
            verify=_ssl_context(settings.INTEGRATIONS_CA_BUNDLE or ""),
            timeout=httpx.Timeout(settings.INTEGRATIONS_TIMEOUT),
            follow_redirects=False,
            trust_env=False,  # no proxies or .netrc from the environment
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._headers = {"Accept": "application/json", "User-Agent": "murano-integrations/1"}
        if spec.basic_user_field:
            user = str(config.get(spec.basic_user_field, ""))
            secret = str(config.get(spec.basic_secret_field, ""))
            token = base64.b64encode(f"{user}:{secret}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def __enter__(self) -> ThirdParty:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def redact(self, text: str) -> str:
        """``text`` without the configuration's secret values."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
        return text

    # --- requests -------------------------------------------------------------------------------

    def get(self, path: str) -> Answer:
        """``GET`` a path of the host (the health check's ``x-exosite-health-path``, or the base
        path), authenticated as the operations are: Basic; ``{field}`` in the path from the
        configuration; and the configuration fields the operations send in their query (a token
        in the query)."""
        for name in re.findall(r"\{([^{}/]+)\}", path):
            if self.spec.config_field(name) is not None and self.config.get(name) is not None:
                path = path.replace("{" + name + "}", quote(_text(self.config[name]), safe=""))
        params = {
            name: _text(self.config[name])
            for name in self.spec.config_query_parameters
            if self.config.get(name) is not None
        }
        return self._send("GET", path, params=params, json_body=None, headers={})

    def call(self, operation: Operation, values: dict, body=None) -> Answer:
        """Call ``operation`` with parameter ``values`` (already checked, see ``operations.py``)
        and the configuration's values for the parameters named after configuration fields."""
        path = self.spec.base_path.rstrip("/") + operation.path
        query, headers = {}, {}
        for parameter in operation.parameters:
            if parameter.location == "body":
                continue
            value = self.config.get(parameter.name) if self.spec.config_field(parameter.name) else None
            if value is None:
                value = values.get(parameter.name)
            if value is None:
                continue
            text = _text(value)
            if parameter.location == "path":
                path = path.replace("{" + parameter.name + "}", quote(text, safe=""))
            elif parameter.location == "query":
                query[parameter.name] = text
            elif parameter.location == "header":
                headers[parameter.name] = text
        return self._send(operation.method, path, params=query, json_body=body, headers=headers)

    def _send(self, method: str, path: str, *, params: dict, json_body, headers: dict) -> Answer:
        if self._resolved is None:
            self._resolved = host_resolve(self.spec.host)
        name, port, _ = self._resolved
        url = f"https://{self.spec.host}{path}"
        for _ in range(MAX_REDIRECTS + 1):
            response_status, location, body = self._attempts(method, url, params, json_body, headers)
            if location is None:
                return Answer(status=response_status, body=body)
            target = urlsplit(urljoin(url, location))
            if (
                target.scheme != "https"
                or (target.hostname or "").lower() != name.lower()
                or (target.port or 443) != port
            ):
                raise CallFailed(
                    f"{method} {self.redact(urlsplit(url).path)} redirected to another host "
                    f"({self.redact(target.scheme + '://' + (target.netloc or ''))}): not followed",
                    status=response_status,
                )
            url, params = target.geturl(), {}
            if response_status == 303:
                method, json_body = "GET", None
        raise CallFailed(f"more than {MAX_REDIRECTS} redirects", status=response_status)

    def _attempts(self, method, url, params, json_body, headers):
        """One request, retried while it may be: ``(status, redirect location or None, body)``."""
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        for attempt in range(attempts):
            if attempt:
                time.sleep(settings.INTEGRATIONS_RETRY_BACKOFF * 2 ** (attempt - 1))
            try:
                status, location, body = self._once(method, url, params, json_body, headers)
            except CallFailed as exc:
                if not exc.unreachable or attempt == attempts - 1:
                    raise
                continue
            if status >= 500 and attempt < attempts - 1:
                continue
            return status, location, body
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method, url, params, json_body, headers):
        name, port, address = self._resolved
        parts = urlsplit(url)
        host_part = f"[{address}]" if ":" in address else address
        target = parts._replace(netloc=f"{host_part}:{port}").geturl()
        request_headers = {**self._headers, **headers, "Host": self.spec.host if port != 443 else name}
        shown = self.redact(parts.path)
        try:
            request = self._client.build_request(
                method, target, params=params or None, headers=request_headers,
                json=json_body if json_body is not None else None,
                extensions={"sni_hostname": name},
            )  # fmt: skip
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise CallFailed(f"{method} {shown}: timed out", unreachable=True) from None
        except httpx.ConnectError as exc:
            reason = (
                "the certificate could not be verified"
                if "CERTIFICATE" in str(exc).upper()
                else "could not connect"
            )
            raise CallFailed(
                f"{method} {shown}: {reason}", unreachable=reason == "could not connect"
            ) from None
        except httpx.HTTPError as exc:
            raise CallFailed(
                f"{method} {shown}: {self.redact(type(exc).__name__)}", unreachable=True
            ) from None
        try:
            if response.is_redirect:
                return response.status_code, response.headers.get("location", ""), None
            raw = self._read_capped(response, method, shown)
        finally:
            response.close()
        logger.info("integration call %s %s → %s (%d bytes)", method, shown, response.status_code, len(raw))
        return response.status_code, None, _decode(raw)

    def _read_capped(self, response: httpx.Response, method: str, shown: str) -> bytes:
        cap = settings.INTEGRATIONS_MAX_RESPONSE_BYTES
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise CallFailed(f"{method} {shown}: the answer is larger than {cap:,} bytes")
        chunks, size = [], 0
        try:
            if length.isdigit():  # the framing holds the body to that length: one read
                return response.read()
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise CallFailed(f"{method} {shown}: the answer is larger than {cap:,} bytes")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise CallFailed(f"{method} {shown}: timed out", unreachable=True) from None
        except httpx.HTTPError:
            raise CallFailed(f"{method} {shown}: the connection broke", unreachable=True) from None
        return b"".join(chunks)


class NotJson(str):
    """An answer's text that is not JSON (so callers can tell it from a JSON string)."""


def _decode(raw: bytes):
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return NotJson(raw[:2000].decode("utf-8", "replace"))


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
