"""The content store on S3: the same uploads, ranges and limits against a real S3-compatible
server (moto's standalone server on a free loopback port), through django-storages."""

import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from connectors.models import ContentItem
from tests.content.conftest import firmware_bytes, sha256

DOWNLOAD = "/provision/download"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, settings):
    """A fresh bucket, and the platform's storage pointed at it as the S3 settings do."""
    name = f"content-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, **CREDENTIALS)
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_server,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "region_name": CREDENTIALS["region_name"],
                "default_acl": None,
            },
        },
    }

    def keys() -> list[str]:
        return sorted(o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", []))

    return keys


@pytest.fixture
def device(token_device):
    return token_device


def test_an_upload_lands_in_the_bucket_and_downloads_whole_and_in_ranges(
    bucket, upload, device_client, device
):
    data = firmware_bytes(9 * 1024 * 1024 + 123)  # over boto3's multipart threshold

    response = upload("fw.bin", data)

    assert response.status_code == 201, response.content
    assert response.json()["sha256"] == sha256(data)
    [key] = bucket()
    assert key == ContentItem.objects.get().storage_name
    whole = device_client.get(DOWNLOAD, params={"id": "fw.bin"}, headers=device.headers)
    assert whole.status_code == 200 and whole.content == data
    headers = {**device.headers, "Range": "bytes=8388600-8388700"}
    part = device_client.get(DOWNLOAD, params={"id": "fw.bin"}, headers=headers)
    assert part.status_code == 206
    assert part.content == data[8_388_600:8_388_701]
    assert part.headers["content-range"] == f"bytes 8388600-8388700/{len(data)}"
    suffix = device_client.get(
        DOWNLOAD, params={"id": "fw.bin"}, headers={**device.headers, "Range": "bytes=-10"}
    )
    assert suffix.content == data[-10:]


def test_a_device_upload_streams_into_the_bucket(bucket, device_client, device, owner_api, connector):
    data = firmware_bytes(6 * 1024 * 1024)

    response = device_client.post("/provision/upload?id=dump.bin", content=data, headers=device.headers)

    assert response.status_code == 204
    assert len(bucket()) == 1
    assert owner_api.get(f"/api/v1/connectors/{connector.pk}/content/dump.bin/").json()["sha256"] == sha256(
        data
    )


def test_replacing_and_deleting_remove_the_old_objects(
    bucket, upload, owner_api, connector, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload("fw.bin", b"version one")
        first = bucket()
        upload("fw.bin", b"version two")
    assert len(bucket()) == 1 and bucket() != first

    with django_capture_on_commit_callbacks(execute=True):
        owner_api.delete(f"/api/v1/connectors/{connector.pk}/content/fw.bin/")

    assert bucket() == []


def test_an_upload_over_the_limit_leaves_nothing_in_the_bucket(
    bucket, settings, chunked_device_client, device
):
    settings.CONTENT_MAX_BYTES = 5 * 1024 * 1024

    def body():
        for _ in range(12):
            yield b"\x01" * (1024 * 1024)

    response = chunked_device_client.post("/provision/upload?id=big", content=body(), headers=device.headers)

    assert response.status_code == 413
    assert bucket() == []
    assert not ContentItem.objects.exists()


def test_unsatisfiable_ranges_are_416_on_s3_too(bucket, upload, device_client, device):
    upload("small", b"0123456789")

    response = device_client.get(
        DOWNLOAD, params={"id": "small"}, headers={**device.headers, "Range": "bytes=10-"}
    )

    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */10"


def test_deleting_a_connector_removes_its_objects(
    bucket, upload, owner_api, connector, django_capture_on_commit_callbacks
):
    upload("a.bin", b"a")
    upload("b.bin", b"b")

    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.delete(f"/api/v1/connectors/{connector.pk}/").status_code == 204

    assert bucket() == []
