"""The "pump cloud": a real HTTPS third-party API for the integration tests and the benchmark.

The seed's example API (docs/examples/pump-cloud.yaml) served from a thread: TLS with a
certificate for ``localhost`` and ``127.0.0.1`` signed by a CA of its own (``ca_path`` is what
the platform's ``INTEGRATIONS_CA_BUNDLE`` points at), HTTP/1.1 keep-alive, HTTP Basic or a token
in the path or the query, and switches for every way a third party fails (down, unhealthy, 5xx,
404, slow, bad JSON, redirects). Every request it sees is recorded in ``requests``.

    with PumpCloud() as cloud:
        cloud.add_assets(3)
        spec = pump_cloud_spec(cloud.host)            # the spec to give the platform
        ... INTEGRATIONS_CA_BUNDLE=cloud.ca_path, INTEGRATIONS_ALLOW_PRIVATE_HOSTS=1 ...
"""

import base64
import datetime as dt
import hmac
import ipaddress
import json
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pump-cloud.yaml"
SPEC_HOST = "api.pumpcloud.example"
BASE_PATH = "/api/v1.0"

STATE_FAILURES = ("500", "404", "timeout", "bad_json", "redirect_other_host", "redirect_same_host")
_SITES = ("North Plant", "River Station", "East Reservoir")
_MODELS = ("PX-200", "PX-350", "HX-900")


class PumpCloud:
    """A real HTTPS server in a thread (ThreadingHTTPServer, HTTP/1.1 keep-alive, daemon
    threads), with a certificate for DNS:localhost and IP:127.0.0.1 signed by its own CA (EC
    P-256, made at start; the CA's PEM is written to a temporary file, ``ca_path``).

    The switches below may be changed while it runs; ``reset()`` puts them back."""

    username = "pump-user"
    password = "pump-Secret-123"
    token = "tok-3f9a7c1e5b2d4f60"

    def __init__(self):
        self.port: int | None = None
        self.host: str = ""  # "localhost:<port>": what goes into a spec's `host`
        self.ca_path: str = ""
        self._directory: str | None = None
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.reset()

    # -- switches ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the defaults: no assets, healthy, up, one page, no failures, no requests."""
        self.assets: dict[str, dict] = {}
        self.healthy: bool = True  # False: /health (and the basePath) answer 503
        self.down: bool = False  # True: every route answers 503
        self.page_size: int | None = None  # None: GET /assets gives every asset in one page
        self.list_as_array: bool = False  # True: GET /assets answers a bare JSON array
        # asset id -> one of STATE_FAILURES, for GET /assets/<id>/state
        self.state_failures: dict[str, str] = {}
        self.slow_seconds: float = 3.0  # how long a "timeout" asset's state takes
        self.redirect_list_to: str | None = None  # set: GET /assets answers 302 to it
        self.requests: list[dict] = []

    def add_assets(self, n: int, prefix: str = "P-") -> list[str]:
        """``n`` more assets with ids ``<prefix>0001``, ``<prefix>0002``… (numbering goes on
        after the ones already there) and deterministic details and states."""
        start = sum(1 for asset_id in self.assets if asset_id.startswith(prefix)) + 1
        ids = []
        for i in range(start, start + n):
            asset_id = f"{prefix}{i:04d}"
            self.assets[asset_id] = {
                "name": f"Pump {prefix}{i:04d}",
                "model": _MODELS[i % len(_MODELS)],
                "serial": f"SN-{i:06d}",
                "site": _SITES[i % len(_SITES)],
                "installed": (dt.date(2018, 1, 1) + dt.timedelta(days=i % 1000)).isoformat(),
                "state": asset_state(i),
            }
            ids.append(asset_id)
        return ids

    # -- URLs -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``https://localhost:<port>/api/v1.0``"""
        return f"https://{self.host}{BASE_PATH}"

    def url(self, path: str = "") -> str:
        """The URL of ``path`` under the basePath: ``url("/assets")``."""
        return self.base_url + path

    def requests_to(self, path: str, method: str = "GET") -> list[dict]:
        """The recorded requests for ``path`` (under the basePath, no query) and ``method``."""
        with self._lock:
            return [r for r in self.requests if r["method"] == method and r["path"] == BASE_PATH + path]

    # -- life -------------------------------------------------------------------------------

    def start(self) -> "PumpCloud":
        self._directory = tempfile.mkdtemp(prefix="pump-cloud-")
        context = _tls_context(Path(self._directory))
        self.ca_path = str(Path(self._directory) / "ca.pem")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler, cloud=self, context=context)
        self.port = self._server.server_address[1]
        self.host = f"localhost:{self.port}"
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="pump-cloud", daemon=True
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stops accepting, ends every open connection (a "timeout" asset's wait included) and
        joins every thread it started."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._serve_thread.join()
        self._server.server_close()
        self._server.close_connections()
        self._server = self._serve_thread = None
        shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None

    def __enter__(self) -> "PumpCloud":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the handler asks --------------------------------------------------------------

    def _record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def _authorized(self, headers, path_token: str | None, query: dict) -> bool:
        if path_token is not None and hmac.compare_digest(path_token, self.token):
            return True
        if "token" in query and hmac.compare_digest(query["token"], self.token):
            return True
        scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(password, self.password)


def asset_state(i: int) -> dict:
    """The state of the ``i``-th asset added (from 1): what GET /assets/<id>/state answers."""
    return {
        "temperature": 20.0 + i % 10,
        "battery": 100 - i % 50,
        "vibration": round(0.01 * (i % 7), 2),
        "running": i % 2 == 0,
    }


def pump_cloud_spec(host: str, *, auth: str = "basic", health_path: bool = True) -> str:
    """The YAML text of docs/examples/pump-cloud.yaml with ``host`` replaced.

    ``auth``: "basic" (as in the file); "token_path" or "token_query": no securityDefinitions
    or security, a config parameter ``token`` (string, format password, required) in place of
    username/password, and a parameter ``token`` on every operation — ``in: query``, or
    ``in: path`` with the paths under ``/t/{token}``. ``health_path=False`` drops
    ``x-exosite-health-path`` (the platform then checks the basePath)."""
    if auth not in ("basic", "token_path", "token_query"):
        raise ValueError(f"unknown auth {auth!r}")
    text = SPEC_PATH.read_text()
    if auth == "basic" and health_path:
        return text.replace(f"host: {SPEC_HOST}\n", f"host: {host}\n", 1)
    spec = yaml.safe_load(text)
    spec["host"] = host
    if not health_path:
        del spec["x-exosite-health-path"]
    if auth != "basic":
        del spec["securityDefinitions"], spec["security"]
        spec["x-exosite-config-parameters"] = [
            {
                "name": "token",
                "description": "Pump Cloud API token",
                "type": "string",
                "format": "password",
                "required": True,
            }
        ]
        where = "path" if auth == "token_path" else "query"
        token_parameter = {
            "name": "token",
            "in": where,
            "description": "The token for API authentication.",
            "required": True,
            "type": "string",
        }
        paths = {}
        for path, operations in spec["paths"].items():
            for operation in operations.values():
                # A copy each: one shared object would be dumped as a YAML anchor and aliases,
                # which the platform refuses (a "billion laughs" guard).
                operation["parameters"] = [dict(token_parameter), *operation.get("parameters", [])]
            paths["/t/{token}" + path if where == "path" else path] = operations
        spec["paths"] = paths
        if where == "path" and health_path:
            spec["x-exosite-health-path"] = "/t/{token}/health"
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


# -- TLS ------------------------------------------------------------------------------------


def _tls_context(directory: Path) -> ssl.SSLContext:
    """A CA and a server certificate for localhost/127.0.0.1 it signed; writes ca.pem (what
    clients trust), server.pem and server.key into ``directory``."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pump Cloud test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(certificate.public_bytes(pem))
    (directory / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return context


# -- the server -----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Accepts plain sockets and hands each to a thread of its own, which does the TLS
    handshake: a client that stalls there never holds up the others. Tracks its connections
    and threads so that stopping ends and joins them all."""

    daemon_threads = True
    # Many keep-alive connections may open at once (the benchmark).
    request_queue_size = 128

    def __init__(self, address, handler, *, cloud: PumpCloud, context: ssl.SSLContext):
        super().__init__(address, handler)
        self.cloud = cloud
        self.context = context
        self._open: dict[threading.Thread, socket.socket] = {}
        self._open_lock = threading.Lock()

    def get_request(self):
        sock, address = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request(self, request, client_address):
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="pump-cloud-connection"
        )
        thread.daemon = True
        with self._open_lock:
            self._open[thread] = request
        thread.start()

    def _serve_connection(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(threading.current_thread(), None)

    def close_connections(self, timeout: float = 10.0) -> None:
        with self._open_lock:
            connections = list(self._open.items())
        for _, request in connections:
            try:
                # The plain socket's shutdown: it wakes a thread blocked reading, where
                # SSLSocket.shutdown would pull the TLS state from under it.
                socket.socket.shutdown(request, socket.SHUT_RDWR)
            except OSError:
                pass
        for thread, _ in connections:
            thread.join(timeout)

    def handle_error(self, request, client_address):
        # Clients that hang up, reject the certificate or are cut off at stop are normal here.
        if isinstance(sys.exc_info()[1], OSError | ValueError):
            return
        traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PumpCloud/1.0"
    # An idle keep-alive connection is closed after this long.
    timeout = 60
    server: _Server

    def setup(self):
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format, *args):
        pass  # Thousands of requests in a benchmark: nothing on stderr.

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def do_PATCH(self):
        self._serve("PATCH")

    # -- dispatch ---------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        cloud = self.server.cloud
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        cloud._record(
            {
                "method": method,
                "path": split.path,
                "query": query,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
        )
        if cloud.down:
            return self._json(503, {"error": "service unavailable"})
        path = split.path
        if path != BASE_PATH and not path.startswith(BASE_PATH + "/"):
            return self._json(404, {"error": "not found"})
        path = path[len(BASE_PATH) :]
        path_token = None
        if path.startswith("/t/"):
            path_token, _, rest = path[len("/t/") :].partition("/")
            path_token = unquote(path_token)
            path = "/" + rest if rest else ""
        if path in ("", "/"):
            # The basePath, which the platform checks when a spec names no health path. Open to
            # all: a check of the basePath carries no operation's token parameter.
            if method != "GET":
                return self._json(405, {"error": "method not allowed"})
            return self._json(200, {"ok": True}) if cloud.healthy else self._json(503, {"ok": False})
        if not cloud._authorized(self.headers, path_token, query):
            return self._json(401, {"error": "unauthorized"})
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts == ["health"]:
            if method != "GET":
                return self._json(405, {"error": "method not allowed"})
            if not cloud.healthy:
                return self._json(503, {"status": "unhealthy"})
            return self._json(200, {"status": "ok"})
        if parts[0] != "assets" or len(parts) > 3:
            return self._json(404, {"error": "not found"})
        if len(parts) == 1:
            return self._only(method, "GET") or self._list(query)
        asset = cloud.assets.get(parts[1])
        if len(parts) == 2:
            return self._only(method, "GET") or self._asset(parts[1], asset)
        if parts[2] == "state":
            return self._only(method, "GET") or self._state(parts[1], asset, split, query)
        if parts[2] == "commands":
            return self._only(method, "POST") or self._command(asset, body)
        return self._json(404, {"error": "not found"})

    def _only(self, method: str, allowed: str) -> bool:
        if method == allowed:
            return False
        self._json(405, {"error": "method not allowed"}, headers={"Allow": allowed})
        return True

    # -- routes -----------------------------------------------------------------------------

    def _list(self, query: dict) -> None:
        cloud = self.server.cloud
        if cloud.redirect_list_to:
            return self._json(302, {"error": "moved"}, headers={"Location": cloud.redirect_list_to})
        listed = [
            {"id": asset_id, "name": asset["name"], "model": asset["model"]}
            for asset_id, asset in list(cloud.assets.items())
        ]
        if cloud.list_as_array:
            return self._json(200, listed)
        if cloud.page_size is None:
            return self._json(200, {"assets": listed, "next": None})
        try:
            page = int(query.get("page", "1"))
        except ValueError:
            page = 0
        if page < 1:
            return self._json(400, {"error": "page must be an integer from 1"})
        start = (page - 1) * cloud.page_size
        more = start + cloud.page_size < len(listed)
        return self._json(
            200, {"assets": listed[start : start + cloud.page_size], "next": page + 1 if more else None}
        )

    def _asset(self, asset_id: str, asset: dict | None) -> None:
        if asset is None:
            return self._json(404, {"error": "no such asset"})
        fields = ("name", "model", "serial", "site", "installed")
        return self._json(200, {"id": asset_id, **{field: asset[field] for field in fields}})

    def _state(self, asset_id: str, asset: dict | None, split, query: dict) -> None:
        cloud = self.server.cloud
        if asset is None:
            return self._json(404, {"error": "no such asset"})
        failure = cloud.state_failures.get(asset_id)
        if failure == "500":
            return self._json(500, {"error": "internal server error"})
        if failure == "404":
            return self._json(404, {"error": "no such asset"})
        if failure == "bad_json":
            return self._send(200, b'{"temperature": ', "application/json")
        if failure == "timeout":
            if cloud._stopping.wait(cloud.slow_seconds):
                # The server is stopping: hang up without an answer, as a dying server does.
                self.close_connection = True
                return None
        if failure == "redirect_other_host" and not self.headers.get("Host", "").startswith("127.0.0.1:"):
            # Same server, other host name: a client must not follow it.
            location = f"https://127.0.0.1:{cloud.port}{split.path}"
            if split.query:
                location += "?" + split.query
            return self._json(302, {"error": "moved"}, headers={"Location": location})
        if failure == "redirect_same_host" and query.get("r") != "1":
            location = f"https://localhost:{cloud.port}{split.path}?"
            location += (split.query + "&" if split.query else "") + "r=1"
            return self._json(302, {"error": "moved"}, headers={"Location": location})
        return self._json(200, asset["state"])

    def _command(self, asset: dict | None, body: bytes) -> None:
        if asset is None:
            return self._json(404, {"error": "no such asset"})
        try:
            command = json.loads(body)["command"]
        except (ValueError, TypeError, KeyError):
            command = None
        if command not in ("start", "stop"):
            return self._json(400, {"error": 'the body must be {"command": "start" or "stop"}'})
        asset["state"] = {**asset["state"], "running": command == "start"}
        return self._json(202, {"accepted": True, "command": command})

    # -- answers ----------------------------------------------------------------------------

    def _json(self, status: int, payload, *, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers=headers)

    def _send(self, status: int, body: bytes, content_type: str, *, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Headers and body in one write: one TLS record, no small-packet delay.
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()
