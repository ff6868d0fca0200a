"""Last seen / last IP written in batches by each process (``devices.seen``)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import Device
from devices.seen import recorder
from tests.devices.conftest import activate
from tests.factories import make_device

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("handler_threads_do_not_keep_connections"),
]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_request_shows_up_as_last_seen_within_the_batch_interval(settings, device_client, connector):
    settings.DEVICE_SEEN_BATCH_SECONDS = 0.1
    token = activate(device_client, "walker").text
    device = Device.objects.get(identity="walker")
    Device.objects.filter(pk=device.pk).update(last_seen=timezone.now() - timedelta(hours=1), last_ip=None)
    before = timezone.now()
    response = device_client.post("/onep:v1/stack/alias", content="x=1", headers={"X-Exosite-CIK": token})
    assert response.status_code == 204

    def written():
        device.refresh_from_db()
        return device.last_ip == "203.0.113.7" and device.last_seen >= before

    assert wait_for(written)


def test_one_flush_writes_every_queued_device_and_never_moves_last_seen_back(settings, connector):
    settings.DEVICE_SEEN_BATCH_SECONDS = 0  # flush by hand below
    a, b = make_device(connector=connector, identity="a"), make_device(connector=connector, identity="b")
    now = timezone.now()
    Device.objects.filter(pk=b.pk).update(last_seen=now, last_ip="198.51.100.1")
    with recorder.lock:
        recorder.pending[a.pk] = (now, "192.0.2.1")
        recorder.pending[b.pk] = (now - timedelta(minutes=5), None)  # an older sighting, late
    recorder.flush()
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.last_seen, a.last_ip) == (now, "192.0.2.1")
    assert (b.last_seen, b.last_ip) == (now, "198.51.100.1")
    assert recorder.pending == {}
