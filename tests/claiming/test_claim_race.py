"""Two end users claiming the same code at once: the devices' rows are locked, so one claim
wins whole and the other, which waited for it, sees the owner and is refused (409)."""

import threading

import pytest
from django.db import connection, connections, transaction

from claiming import services
from tests.claiming.conftest import tags_of


def _wait_until_blocked_on_a_lock():
    """Until another session of this database waits for a row lock: a condition, polled."""
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.01)
    raise AssertionError("the second claim never waited for the first one's lock")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one write transaction at a time")
@pytest.mark.django_db(transaction=True)
def test_of_two_claims_at_once_one_wins(alice, bob, coded_devices):
    devices = coded_devices("RACE", 3)
    claimed, release = threading.Event(), threading.Event()
    results, errors = {}, []

    def bob_claims():
        try:
            with transaction.atomic():  # Bob's claim holds its locks until released
                results["bob"] = services.claim(user=bob, claim_code="RACE")
                claimed.set()
                release.wait(30)
        except Exception as exc:
            errors.append(exc)
            claimed.set()
        finally:
            connections.close_all()

    def alice_claims():
        try:
            results["alice"] = services.claim(user=alice, claim_code="RACE")
        except services.ClaimRefused as exc:
            results["alice"] = exc.status
        finally:
            connections.close_all()

    first = threading.Thread(target=bob_claims)
    first.start()
    assert claimed.wait(30)
    second = threading.Thread(target=alice_claims)
    second.start()
    _wait_until_blocked_on_a_lock()
    release.set()
    first.join(30)
    second.join(30)

    assert errors == []
    assert results == {"bob": sorted(d.identity for d in devices), "alice": 409}
    assert all(tags_of(d, "users") == [str(bob.pk)] for d in devices)
