"""``core.realtime.pushes_held``: pushes made around a transaction go out only once it ends, and
not at all when it fails (the MQTT listener stores a batch of writes in one transaction)."""

import pytest

from core import realtime
from devices.events import EventType, event_emit, events_recent


def emit(connector, identity: str) -> None:
    event_emit(connector_id=connector.pk, type=EventType.DATA_IN, identity=identity, payload=[])


def identities(connector) -> list[str]:
    return [event["identity"] for event in events_recent(connector.pk)]


def test_held_pushes_go_out_when_the_block_ends(connector):
    with realtime.pushes_held():
        emit(connector, "first")
        emit(connector, "second")
        assert identities(connector) == []  # events_recent sends what is queued: nothing is
    assert identities(connector) == ["first", "second"]


def test_held_pushes_of_a_failed_block_never_go_out(connector):
    with pytest.raises(RuntimeError):
        with realtime.pushes_held():
            emit(connector, "rolled-back")
            raise RuntimeError("the transaction failed")
    emit(connector, "after")
    assert identities(connector) == ["after"]
