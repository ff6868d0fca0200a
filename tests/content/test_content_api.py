"""The content store's management API: upload (multipart), list, read, describe, delete and
download with ranges; bad ids, bad types, and uploads over the limit, which leave nothing."""

import pytest

from connectors.models import ContentItem
from tests.content.conftest import firmware_bytes, sha256
from tests.factories import make_connector


def url(connector, *parts: str) -> str:
    return f"/api/v1/connectors/{connector.pk}/content/" + "".join(f"{p}/" for p in parts)


def test_upload_stores_the_item_with_its_size_type_and_checksum(upload, owner_api, connector, stored_files):
    data = firmware_bytes()

    response = upload("fw-1.0.bin", data, description="Release 1.0")

    assert response.status_code == 201, response.content
    item = response.json()
    assert item["id"] == "fw-1.0.bin"
    assert item["size"] == len(data)
    assert item["sha256"] == sha256(data)
    assert item["content_type"] == "application/octet-stream"
    assert item["description"] == "Release 1.0"
    assert item["package"] is None
    assert item["download"] == url(connector, "fw-1.0.bin", "download")
    assert len(stored_files()) == 1
    assert owner_api.get(url(connector)).json() == [item]
    assert owner_api.get(url(connector, "fw-1.0.bin")).json() == item


def test_the_id_defaults_to_the_file_name_and_the_type_to_the_uploads(upload):
    response = upload(None, b"key=value\n", name="settings.cfg", file_type="text/plain")

    assert response.status_code == 201
    assert response.json()["id"] == "settings.cfg"
    assert response.json()["content_type"] == "text/plain"


def test_a_mime_type_can_be_given(upload):
    response = upload("clip", b"\x00\x01", content_type="audio/mpeg")

    assert response.json()["content_type"] == "audio/mpeg"


def test_uploading_an_existing_id_replaces_it_and_keeps_its_description(
    upload, owner_api, connector, stored_files, django_capture_on_commit_callbacks
):
    upload("fw.bin", b"old firmware", description="Stable")

    with django_capture_on_commit_callbacks(execute=True):
        response = upload("fw.bin", b"new firmware!")

    assert response.status_code == 200
    assert response.json()["size"] == len(b"new firmware!")
    assert response.json()["description"] == "Stable"
    download = owner_api.get(url(connector, "fw.bin", "download"))
    assert b"".join(download.streaming_content) == b"new firmware!"
    assert len(stored_files()) == 1  # the old file went with the replacement


def test_patch_changes_the_description_and_type(upload, owner_api, connector):
    upload("notes", b"hello")

    changes = {"description": "Read me", "content_type": "text/plain"}

    response = owner_api.patch(url(connector, "notes"), changes, format="json")

    assert response.status_code == 200
    assert response.json()["description"] == "Read me"
    assert response.json()["content_type"] == "text/plain"


def test_delete_removes_the_item_and_its_file(
    upload, owner_api, connector, stored_files, django_capture_on_commit_callbacks
):
    upload("old.bin", b"bytes")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.delete(url(connector, "old.bin"))

    assert response.status_code == 204
    assert owner_api.get(url(connector, "old.bin")).status_code == 404
    assert stored_files() == []


def test_an_empty_file_is_an_item_of_zero_bytes(upload, owner_api, connector):
    assert upload("empty", b"").status_code == 201

    download = owner_api.get(url(connector, "empty", "download"))

    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b""
    assert download["Content-Length"] == "0"


# --- downloads ---------------------------------------------------------------------------------


@pytest.fixture
def item(upload):
    data = firmware_bytes(100_000)
    upload("image.bin", data)
    return data


def download(owner_api, connector, range_header=None):
    headers = {"HTTP_RANGE": range_header} if range_header else {}
    return owner_api.get(url(connector, "image.bin", "download"), **headers)


def test_download_streams_the_whole_item(owner_api, connector, item):
    response = download(owner_api, connector)

    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == item
    assert response["Content-Length"] == str(len(item))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{sha256(item)}"'
    assert response["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("accept", ["application/octet-stream", "text/html"])
def test_download_answers_the_bytes_whatever_accept_asks(owner_api, connector, item, accept):
    response = owner_api.get(url(connector, "image.bin", "download"), HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == item


def test_download_of_a_missing_item_is_json_whatever_accept_asks(owner_api, connector):
    response = owner_api.get(url(connector, "nope.bin", "download"), HTTP_ACCEPT="application/octet-stream")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such content item."}


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 99_999),
        ("bytes=-500", 99_500, 99_999),
        ("bytes=99999-99999", 99_999, 99_999),
        ("bytes=50000-999999", 50_000, 99_999),  # past the end: up to the end
        ("bytes=-200000", 0, 99_999),  # a suffix longer than the item: all of it
    ],
)
def test_a_range_is_answered_with_that_part(owner_api, connector, item, header, start, end):
    response = download(owner_api, connector, header)

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == item[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(item)}"
    assert response["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=100000-", "bytes=200000-300000", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(owner_api, connector, item, header):
    response = download(owner_api, connector, header)

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */100000"
    assert "detail" in response.json()


@pytest.mark.parametrize("header", ["bytes=5-1", "items=0-10", "bytes=abc", "bytes=0-1,5-9", "bytes=-"])
def test_a_range_that_is_not_one_valid_byte_range_is_ignored(owner_api, connector, item, header):
    response = download(owner_api, connector, header)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == item


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_id",
    ["../etc/passwd", "a/b", ".hidden", "..", "with space", "x" * 129, "semi;colon", "comma,id", "ünïcode"],
)
def test_bad_ids_are_refused_and_nothing_is_stored(upload, content_id, stored_files):
    response = upload(content_id, b"data")

    assert response.status_code == 400
    assert "id" in response.json()
    assert stored_files() == []
    assert not ContentItem.objects.exists()


def test_an_empty_id_falls_back_to_a_file_name_that_must_be_valid_too(upload, stored_files):
    response = upload("", b"data", name="my firmware.bin")

    assert response.status_code == 400
    assert "id" in response.json()
    assert stored_files() == []


def test_a_missing_file_is_a_field_error(owner_api, connector):
    response = owner_api.post(url(connector), {"id": "x"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


@pytest.mark.parametrize("content_type", ["not a type", "text/plain,text/html", "a/b\nc"])
def test_a_bad_mime_type_is_refused(upload, content_type, stored_files):
    response = upload("x.bin", b"data", content_type=content_type)

    assert response.status_code == 400
    assert "content_type" in response.json()
    assert stored_files() == []


def test_a_description_on_several_lines_is_refused(upload):
    response = upload("x.bin", b"data", description="one\ntwo")

    assert response.status_code == 400
    assert "description" in response.json()


def test_unknown_content_is_404(owner_api, connector):
    for path in (url(connector, "nothing"), url(connector, "nothing", "download")):
        response = owner_api.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such content item."}


def test_another_connectors_content_is_not_found(upload, owner_api, business):
    upload("fw.bin", b"data")
    other = make_connector(business=business, name="Other")

    assert owner_api.get(url(other, "fw.bin")).status_code == 404
    assert owner_api.get(url(other)).json() == []


def test_an_outsider_sees_no_content(upload, api, outsider, connector):
    upload("fw.bin", b"data")

    assert api(outsider).get(url(connector)).status_code == 404
    assert api(outsider).get(url(connector, "fw.bin", "download")).status_code == 404


def test_a_viewer_reads_but_cannot_upload_or_delete(upload, api, viewer, connector, stored_files):
    upload("fw.bin", b"data")
    client = api(viewer)

    assert client.get(url(connector, "fw.bin", "download")).status_code == 200
    assert upload("other.bin", b"x", client=client).status_code == 403
    assert client.delete(url(connector, "fw.bin")).status_code == 403
    assert len(stored_files()) == 1


# --- the size limit ----------------------------------------------------------------------------


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(settings, upload, stored_files, tmp_path):
    settings.CONTENT_MAX_BYTES = 10_000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)

    response = upload("big.bin", b"x" * 10_001)

    assert response.status_code == 413
    assert "smaller than 10,001 bytes" in response.json()["detail"]
    assert stored_files() == []
    assert not ContentItem.objects.exists()
    assert [p for p in tmp_path.iterdir() if p.is_file()] == []  # no temporary file either


def test_an_upload_at_the_limit_is_stored(settings, upload):
    settings.CONTENT_MAX_BYTES = 10_000

    assert upload("edge.bin", b"x" * 10_000).status_code == 201


def test_a_body_announced_far_over_the_limit_is_refused_before_it_is_read(settings, owner_api, connector):
    settings.CONTENT_MAX_BYTES = 10_000
    body = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n' + b"x" * 3_000_000
    body += b"\r\n--B--\r\n"

    response = owner_api.generic("POST", url(connector), body, content_type="multipart/form-data; boundary=B")

    assert response.status_code == 413


def test_a_replacement_over_the_limit_keeps_the_old_item(settings, upload, owner_api, connector):
    upload("fw.bin", b"good firmware")
    settings.CONTENT_MAX_BYTES = 1_000

    assert upload("fw.bin", b"x" * 2_000).status_code == 413

    download = owner_api.get(url(connector, "fw.bin", "download"))
    assert b"".join(download.streaming_content) == b"good firmware"


def test_the_real_limit_is_64_mb(upload, stored_files):
    from django.conf import settings

    assert settings.CONTENT_MAX_BYTES == 64 * 1024 * 1024 - 1
    response = upload("huge.bin", b"\0" * (64 * 1024 * 1024))  # one byte too many

    assert response.status_code == 413
    assert stored_files() == []
