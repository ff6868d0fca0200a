"""What the device API needs on every request, cached per process.

* which connector a ``Host`` header names;
* the resource rules of a connector, keyed by the connector's ``updated_at`` stamp (which the
  device API reads on every request anyway) so a changed resource is seen at once.

Host lookups of extra host names are cached for ``DEVICE_API_CACHE_SECONDS``; the process that
changes host names forgets its cache immediately, other processes within that time.
"""

import threading
import time

from django.conf import settings

from connectors.hostnames import hostname_reserved
from connectors.models import CONNECTOR_ID_LENGTH, Connector, ConnectorHostname, Resource
from connectors.values import ResourceRules

_lock = threading.Lock()
_hosts: dict[str, tuple[float, str | None]] = {}
_rules: dict[str, tuple[object, dict[str, ResourceRules]]] = {}
_MAX_CACHED_HOSTS = 10_000


def forget_hosts() -> None:
    with _lock:
        _hosts.clear()


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host.split("]")[0] + "]"
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    # "thermo.example.com." is the same name as stored names, which have no trailing dot.
    return host[:-1] if host.endswith(".") else host


def connector_id_for_host(host: str) -> str | None:
    """The id of the connector a request's Host header names, or None. A name that is neither
    ``<id>.<DEVICE_API_DOMAIN>`` nor an extra host name goes to ``DEVICE_DEFAULT_CONNECTOR``."""
    name = _host_name(host or "")
    label = connector_label(name)
    if label is not None:
        return label if _connector_exists(label) else None
    return _hostname_connector(name) or settings.DEVICE_DEFAULT_CONNECTOR or None


def connector_named(server_name: str) -> str | None:
    """The id of the connector a name names (``<id>.<DEVICE_API_DOMAIN>`` or one of its extra
    host names), or None: ``connector_id_for_host`` without the default connector (the MQTT
    listener's TLS server names)."""
    name = _host_name(server_name or "")
    label = connector_label(name)
    if label is not None:
        return label if _connector_exists(label) else None
    return _hostname_connector(name)


def connector_label(name: str) -> str | None:
    """The connector id a ``<id>.<DEVICE_API_DOMAIN>`` name carries (devmode-style or
    multi-level labels: the first label), or None for any other name."""
    suffix = "." + settings.DEVICE_API_DOMAIN
    if name.endswith(suffix):
        label = name[: -len(suffix)].split(".", 1)[0]
        if len(label) == CONNECTOR_ID_LENGTH and label.isalnum():
            return label
    return None


def _hostname_connector(name: str) -> str | None:
    """The connector whose extra host name ``name`` is (cached ``DEVICE_API_CACHE_SECONDS``)."""
    now = time.monotonic()
    cached = _hosts.get(name)
    if cached is not None and cached[0] >= now:
        return cached[1]
    # A reserved name (an IP address, localhost, the platform's domains) never routes to a
    # connector, even if a row claimed it before such names were refused.
    connector_id = None
    if not hostname_reserved(name):
        claims = ConnectorHostname.objects.filter(hostname=name)
        connector_id = claims.values_list("connector_id", flat=True).first()
    with _lock:
        if len(_hosts) >= _MAX_CACHED_HOSTS:
            _hosts.clear()
        _hosts[name] = (now + settings.DEVICE_API_CACHE_SECONDS, connector_id)
    return connector_id


def _connector_exists(connector_id: str) -> bool:
    key = "id:" + connector_id
    now = time.monotonic()
    cached = _hosts.get(key)
    if cached is not None and cached[0] >= now:
        return cached[1] is not None
    exists = Connector.objects.filter(pk=connector_id).exists()
    with _lock:
        _hosts[key] = (now + settings.DEVICE_API_CACHE_SECONDS, connector_id if exists else None)
    return exists


def connector_rules(connector) -> dict[str, ResourceRules]:
    """The connector's resources by alias (cached per process, until its settings change)."""
    return resource_rules(connector.pk, connector.updated_at)


def resource_rules(connector_id: str, version) -> dict[str, ResourceRules]:
    """The connector's resources by alias, for the connector's settings stamp ``version``."""
    cached = _rules.get(connector_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    rules = {r.alias: ResourceRules.of(r) for r in Resource.objects.filter(connector_id=connector_id)}
    with _lock:
        _rules[connector_id] = (version, rules)
    return rules
