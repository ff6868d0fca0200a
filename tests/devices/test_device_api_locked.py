"""A locked device is refused the same way on every device API row, whatever its credentials:
the alias and record rows and the content rows (list, info, download, upload) all answer
``403 device is locked``, store nothing, and each refusal is a ``locked_denied`` event."""

import base64

import pytest

from connectors.models import ContentItem
from devices.models import ValuePoint
from tests.factories import make_device

PASSWORD = "a-password-of-at-least-20-bytes"

ROWS = [
    ("get", "/onep:v1/stack/alias?temp", None),
    ("post", "/onep:v1/stack/alias", "temp=21"),
    ("post", "/onep:v1/stack/record", "alias=temp&1700000000=21"),
    ("get", "/provision/download", None),
    ("get", "/provision/download?id=fw.bin&info=true", None),
    ("get", "/provision/download?id=fw.bin", None),
    ("post", "/provision/upload?id=notes.txt", "written while locked"),
]


@pytest.fixture
def token_headers(device_client, connector):
    token = device_client.post("/provision/activate", content="id=locked-token").text
    return {"X-Exosite-CIK": token}


@pytest.fixture
def password_headers(connector):
    make_device(connector=connector, identity="locked:pw", auth_type="password", key=PASSWORD)
    encoded = base64.b64encode(f"locked:pw:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@pytest.mark.parametrize("credentials", ["token", "password"])
@pytest.mark.parametrize("method, path, body", ROWS, ids=[f"{m} {p}" for m, p, _ in ROWS])
def test_a_locked_device_is_refused_on_every_row(
    request, device_client, connector, owner_api, events, credentials, method, path, body
):
    headers = request.getfixturevalue(f"{credentials}_headers")
    identity = "locked-token" if credentials == "token" else "locked:pw"
    locked = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{identity}/", {"locked": True}, format="json"
    )
    assert locked.status_code == 200, locked.content

    response = device_client.request(method.upper(), path, content=body, headers=headers)

    assert (response.status_code, response.text) == (403, "device is locked")
    assert [e["identity"] for e in events("locked_denied")] == [identity]
    assert not ValuePoint.objects.exists()
    assert not ContentItem.objects.exists()
