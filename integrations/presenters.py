"""What the Integration tab shows beyond the API's JSON (``integrations.views``)."""

import json

from devices.models import DeviceTag
from integrations.client import NotJson
from integrations.sync import ASSET_TAG


def integration_device_count(*, connector) -> int:
    """How many of the connector's devices came from its integration (tagged with their asset id)."""
    return (
        DeviceTag.objects.filter(connector=connector, name=ASSET_TAG).values("device_id").distinct().count()
    )


def answer_text(body) -> tuple[str, bool]:
    """A third party's answer as text to show (escaped where it is shown), and whether it was JSON."""
    if isinstance(body, NotJson):
        return str(body), False
    if body is None:
        return "", True
    return json.dumps(body, indent=2, ensure_ascii=False), True


def secrets_set(info: dict | None) -> dict:
    """``{name: True|False}`` for the secret configuration fields of an integration's JSON."""
    if info is None:
        return {}
    return {name: value["set"] for name, value in info["config"].items() if isinstance(value, dict)}
