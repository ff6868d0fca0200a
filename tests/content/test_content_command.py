"""``manage.py content``: the content store from the terminal, like ``murano content``."""

import io

import pytest
from django.core.management import CommandError, call_command

from connectors.models import ContentItem
from tests.content.conftest import firmware_bytes, sha256


def run(*args) -> str:
    out = io.StringIO()
    call_command("content", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_upload_list_info_download_and_delete(
    connector, tmp_path, stored_files, django_capture_on_commit_callbacks
):
    data = firmware_bytes(70_000)
    source = tmp_path / "fw-3.0.bin"
    source.write_bytes(data)

    uploaded = run("upload", connector.pk, str(source), "--description", "Release 3.0")
    listing = run("list", connector.pk)
    info = run("info", connector.pk, "fw-3.0.bin")
    run("download", connector.pk, "fw-3.0.bin", "--output", str(tmp_path / "copy.bin"))

    assert uploaded.startswith(
        f"Uploaded fw-3.0.bin: 70000 bytes, application/octet-stream, sha256 {sha256(data)}"
    )
    assert listing.startswith("fw-3.0.bin\t70000\tapplication/octet-stream\t")
    assert listing.rstrip().endswith("Release 3.0")
    assert f"sha256: {sha256(data)}" in info
    assert (tmp_path / "copy.bin").read_bytes() == data
    with django_capture_on_commit_callbacks(execute=True):
        assert run("delete", connector.pk, "fw-3.0.bin") == "Deleted fw-3.0.bin\n"
    assert not ContentItem.objects.exists()
    assert stored_files() == []


def test_upload_with_an_id_and_type_replaces(connector, tmp_path):
    source = tmp_path / "anything"
    source.write_bytes(b"one")
    run("upload", connector.pk, str(source), "--id", "cfg", "--type", "text/plain")
    source.write_bytes(b"two!")

    assert run("upload", connector.pk, str(source), "--id", "cfg").startswith("Replaced cfg: 4 bytes")


@pytest.mark.parametrize(
    "args, message",
    [
        (("list", "nope"), "No connector"),
        (("info", "{c}", "missing"), "No content item"),
        (("upload", "{c}", "/nonexistent/file"), "no such file"),
        (("upload", "{c}", "{f}", "--id", "../evil"), "id:"),
    ],
)
def test_refusals_are_errors_with_a_message(connector, tmp_path, args, message):
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")

    with pytest.raises(CommandError, match=message):
        run(*(a.format(c=connector.pk, f=source) for a in args))


def test_an_upload_over_the_limit_is_refused(connector, tmp_path, settings, stored_files):
    settings.CONTENT_MAX_BYTES = 1_000
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 1_001)

    with pytest.raises(CommandError, match="smaller than 1,001 bytes"):
        run("upload", connector.pk, str(source))
    assert stored_files() == []
