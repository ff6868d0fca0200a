"""The device API's content rows (shared/docs/device-api.md): list, info, download with Range (206/416)
and device upload (413 at 64 MB, counted while streaming), on the WSGI and ASGI applications.
Every download is a ``content_download`` event in Logs."""

import asyncio

import pytest

from connectors.content import services as content_services
from connectors.models import ContentItem
from tests.content.conftest import firmware_bytes, sha256
from tests.devices.conftest import activate

DOWNLOAD = "/provision/download"
UPLOAD = "/provision/upload"


@pytest.fixture
def device(token_device):
    return token_device


@pytest.fixture
def items(upload):
    data = firmware_bytes(200_000)
    upload("fw-2.0.bin", data, description="Release 2.0, with fixes")
    upload("config.json", b'{"a": 1}', file_type="application/json")
    return data


def test_list_names_every_content_id_one_per_line(device_client, device, items):
    response = device_client.get(DOWNLOAD, headers=device.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == "config.json\nfw-2.0.bin\n"


def test_an_empty_store_lists_nothing(device_client, device):
    response = device_client.get(DOWNLOAD, headers=device.headers)

    assert response.status_code == 200
    assert response.text == ""


def test_info_answers_type_size_time_and_description(device_client, device, items):
    item = ContentItem.objects.get(content_id="fw-2.0.bin")

    response = device_client.get(
        DOWNLOAD, params={"id": "fw-2.0.bin", "info": "true"}, headers=device.headers
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    updated = int(item.updated_at.timestamp())
    assert response.text == f"application/octet-stream,200000,{updated},Release 2.0, with fixes"


def test_download_streams_the_item_with_its_type(device_client, device, items, events):
    response = device_client.get(DOWNLOAD, params={"id": "fw-2.0.bin"}, headers=device.headers)

    assert response.status_code == 200
    assert response.content == items
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == "200000"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{sha256(items)}"'
    [event] = events("content_download")
    assert event["identity"] == device.identity
    assert event["payload"] == {"id": "fw-2.0.bin", "size": 200_000, "range": None}


def test_a_json_item_downloads_with_its_own_type(device_client, device, items):
    response = device_client.get(DOWNLOAD, params={"id": "config.json"}, headers=device.headers)

    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"a": 1}


@pytest.mark.parametrize(
    "header, start, end",
    [("bytes=0-0", 0, 0), ("bytes=65536-131071", 65_536, 131_071), ("bytes=199000-", 199_000, 199_999),
     ("bytes=-1", 199_999, 199_999), ("bytes=150000-250000", 150_000, 199_999)],
)  # fmt: skip
def test_a_range_download_is_206_with_that_part(device_client, device, items, events, header, start, end):
    response = device_client.get(
        DOWNLOAD, params={"id": "fw-2.0.bin"}, headers={**device.headers, "Range": header}
    )

    assert response.status_code == 206
    assert response.content == items[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/200000"
    assert events("content_download")[-1]["payload"]["range"] == f"{start}-{end}"


def test_resuming_a_download_in_ranges_rebuilds_the_item(device_client, device, items):
    parts, position = [], 0
    while position < len(items):
        headers = {**device.headers, "Range": f"bytes={position}-{position + 49_999}"}
        response = device_client.get(DOWNLOAD, params={"id": "fw-2.0.bin"}, headers=headers)
        assert response.status_code == 206
        parts.append(response.content)
        position += len(response.content)

    assert b"".join(parts) == items


@pytest.mark.parametrize("header", ["bytes=200000-", "bytes=300000-400000", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(device_client, device, items, header):
    response = device_client.get(
        DOWNLOAD, params={"id": "fw-2.0.bin"}, headers={**device.headers, "Range": header}
    )

    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */200000"


def test_head_answers_the_headers_without_the_bytes(device_client, device, items, events):
    response = device_client.head(DOWNLOAD, params={"id": "fw-2.0.bin"}, headers=device.headers)

    assert response.status_code == 200
    assert response.headers["content-length"] == "200000"
    assert response.content == b""
    assert events("content_download") == []


@pytest.mark.parametrize("content_id", ["nothing", "../../etc/passwd", "x" * 5000, "a\x00b"])
def test_unknown_or_impossible_ids_are_404(device_client, device, items, content_id):
    for params in ({"id": content_id}, {"id": content_id, "info": "true"}):
        assert device_client.get(DOWNLOAD, params=params, headers=device.headers).status_code == 404


def test_an_empty_id_is_400(device_client, device):
    assert device_client.get(f"{DOWNLOAD}?id=", headers=device.headers).status_code == 400


def test_content_needs_the_devices_credentials(device_client, device, items):
    assert device_client.get(DOWNLOAD).status_code == 401
    assert (
        device_client.get(
            DOWNLOAD, params={"id": "fw-2.0.bin"}, headers={"X-Exosite-CIK": "0" * 40}
        ).status_code
        == 401
    )
    assert device_client.post(f"{UPLOAD}?id=x", content=b"data").status_code == 401


def test_another_connectors_device_sees_none_of_it(wsgi_client_from, business, items):
    from tests.factories import make_connector

    other = make_connector(business=business, name="Other", devmode=True)
    client = wsgi_client_from(other)
    token = activate(client, "elsewhere").text

    response = client.get(DOWNLOAD, headers={"X-Exosite-CIK": token})

    assert response.text == ""
    assert (
        client.get(DOWNLOAD, params={"id": "fw-2.0.bin"}, headers={"X-Exosite-CIK": token}).status_code == 404
    )


def test_wrong_methods_are_405(device_client, device):
    assert device_client.post(DOWNLOAD, headers=device.headers).status_code == 405
    assert device_client.get(f"{UPLOAD}?id=x", headers=device.headers).status_code == 405


# --- device uploads ------------------------------------------------------------------------------


def test_a_device_uploads_a_file(device_client, device, owner_api, connector, events):
    data = firmware_bytes(150_000)

    response = device_client.post(
        f"{UPLOAD}?id=log-1.txt", content=data, headers={**device.headers, "Content-Type": "text/plain"}
    )

    assert response.status_code == 204
    item = owner_api.get(f"/api/v1/connectors/{connector.pk}/content/log-1.txt/").json()
    assert item["size"] == 150_000
    assert item["sha256"] == sha256(data)
    assert item["content_type"] == "text/plain"
    assert item["uploaded_by_device"] == device.identity
    [event] = events("content_upload")
    assert event["identity"] == device.identity
    assert event["payload"] == {"id": "log-1.txt", "size": 150_000, "content_type": "text/plain"}
    assert device_client.get(DOWNLOAD, params={"id": "log-1.txt"}, headers=device.headers).content == data


def test_a_device_replaces_its_own_upload_but_not_peoples_items(device_client, device, items):
    assert device_client.post(f"{UPLOAD}?id=mine", content=b"one", headers=device.headers).status_code == 204
    assert device_client.post(f"{UPLOAD}?id=mine", content=b"two", headers=device.headers).status_code == 204

    response = device_client.post(f"{UPLOAD}?id=fw-2.0.bin", content=b"evil", headers=device.headers)

    assert response.status_code == 403
    assert device_client.get(DOWNLOAD, params={"id": "fw-2.0.bin"}, headers=device.headers).content == items


def test_a_device_cannot_upload_firmware_packages(device_client, device):
    response = device_client.post(f"{UPLOAD}?id=package_evil", content=b"{}", headers=device.headers)

    assert response.status_code == 403
    assert not ContentItem.objects.exists()


def test_another_device_cannot_replace_a_devices_upload(device_client, device, wsgi_client_from, connector):
    device_client.post(f"{UPLOAD}?id=report", content=b"from one", headers=device.headers)
    token = activate(device_client, "sensor-2").text

    response = device_client.post(
        f"{UPLOAD}?id=report", content=b"from two", headers={"X-Exosite-CIK": token}
    )

    assert response.status_code == 403


@pytest.mark.parametrize("query", ["", "?id=", "?id=../x", "?id=a/b"])
def test_an_upload_without_a_valid_id_is_400(device_client, device, query, stored_files):
    response = device_client.post(f"{UPLOAD}{query}", content=b"data", headers=device.headers)

    assert response.status_code == 400
    assert stored_files() == []


def test_an_upload_announced_over_the_limit_is_413_at_once(device_client, device, stored_files):
    headers = {**device.headers, "Content-Length": str(64 * 1024 * 1024)}

    response = device_client.post(f"{UPLOAD}?id=big", content=b"", headers=headers)

    assert response.status_code == 413
    assert stored_files() == []


def _stream(total: int, chunk: int = 1024 * 1024):
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        sent += size
        yield b"\xab" * size


def test_a_streamed_upload_of_64_mb_is_stopped_at_the_limit_wsgi(chunked_device_client, device, stored_files):
    """Sent chunked (no Content-Length), so only counting can stop it."""
    response = chunked_device_client.post(
        f"{UPLOAD}?id=big", content=_stream(64 * 1024 * 1024), headers=device.headers
    )

    assert response.status_code == 413
    assert stored_files() == []
    assert not ContentItem.objects.exists()


def test_a_chunked_upload_under_the_limit_is_stored(chunked_device_client, device):
    response = chunked_device_client.post(
        f"{UPLOAD}?id=chunked", content=_stream(3_000_000), headers=device.headers
    )

    assert response.status_code == 204
    assert ContentItem.objects.get(content_id="chunked").size == 3_000_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("handler_threads_do_not_keep_connections")
def test_uploads_and_range_downloads_stream_through_the_asgi_application(
    asgi_device_client, connector, stored_files
):
    data = firmware_bytes(3 * 1024 * 1024 + 17)

    async def scenario():
        async with asgi_device_client as client:
            token = (await client.post("/provision/activate", content="id=asgi-device")).text
            headers = {"X-Exosite-CIK": token}
            upload = await client.post(f"{UPLOAD}?id=blob", content=_async_chunks(data), headers=headers)
            whole = await client.get(DOWNLOAD, params={"id": "blob"}, headers=headers)
            part = await client.get(
                DOWNLOAD, params={"id": "blob"}, headers={**headers, "Range": "bytes=1000-1999"}
            )
            too_big = await client.post(
                f"{UPLOAD}?id=huge", content=_async_stream(64 * 1024 * 1024), headers=headers
            )
            return upload, whole, part, too_big

    upload, whole, part, too_big = asyncio.run(scenario())

    assert upload.status_code == 204
    assert whole.status_code == 200 and whole.content == data
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert too_big.status_code == 413
    assert list(ContentItem.objects.values_list("content_id", flat=True)) == ["blob"]
    assert len(stored_files()) == 1


async def _async_chunks(data: bytes, size: int = 100_000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _async_stream(total: int):
    for chunk in _stream(total):
        yield chunk


def test_a_stored_file_that_went_missing_is_404_not_500(device_client, device, items, media_root):
    item = ContentItem.objects.get(content_id="fw-2.0.bin")
    (media_root / item.storage_name).unlink()

    assert device_client.get(DOWNLOAD, params={"id": "fw-2.0.bin"}, headers=device.headers).status_code == 404


def test_the_service_refuses_a_stream_that_ends_before_its_announced_length(connector, stored_files):
    import io

    from connectors.content.errors import UploadInterrupted

    with pytest.raises(UploadInterrupted):
        content_services.content_upload(
            connector=connector, content_id="cut", stream=io.BytesIO(b"short"), length=100
        )
    assert stored_files() == []
