"""When and from where each device was last seen, written in batches.

Every authenticated device request moves ``last_seen`` (at most once a second per device) and
sometimes ``last_ip``. Written one request at a time, that is one committed UPDATE per request
for fleets that poll: the database's commit rate, not the device API, would set the pace. So each
process queues the sightings and a background thread writes what has queued up every
``DEVICE_SEEN_BATCH_SECONDS``, many devices per transaction. What people see lags by at most
that long (default 0.5 s); ``0`` writes each sighting at once, in the request (the tests do).
"""

import atexit
import logging
import os
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from devices.models import Device

logger = logging.getLogger(__name__)


def _update_sql() -> str:
    qn = connection.ops.quote_name
    seen, ip = qn("last_seen"), qn("last_ip")
    # Two processes may write one device out of order: last_seen never moves backwards.
    return (
        f"UPDATE {qn(Device._meta.db_table)} SET "
        f"{seen} = CASE WHEN {seen} IS NULL OR {seen} < %s THEN %s ELSE {seen} END, "
        f"{ip} = COALESCE(%s, {ip}) WHERE {qn('id')} = %s"
    )


class SeenRecorder:
    """This process's queue of sightings and the thread that writes them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writing = threading.Lock()
        self.pending: dict[int, tuple[datetime, str | None]] = {}
        self.pid = None

    def record(self, device_id: int, seen: datetime, ip: str | None) -> None:
        interval = settings.DEVICE_SEEN_BATCH_SECONDS
        with self.lock:
            if interval and self.pid != os.getpid():  # first sighting in this (forked) process
                if self.pid is not None:  # forked: the parent's queue stays the parent's
                    self.pending = {}
                self.pid = os.getpid()
                threading.Thread(
                    target=self._run, args=(interval,), name="seen-recorder", daemon=True
                ).start()
            self.pending[device_id] = (seen, ip)
        if not interval:
            self.flush()

    def flush(self) -> int:
        """Write every queued sighting now, from the calling thread; return how many."""
        with self.writing:
            with self.lock:
                batch, self.pending = self.pending, {}
            if not batch:
                return 0
            field_seen, field_ip = Device._meta.get_field("last_seen"), Device._meta.get_field("last_ip")
            rows = []
            for device_id, (seen, ip) in sorted(batch.items()):  # one lock order for every writer
                seen = field_seen.get_db_prep_save(seen, connection)
                rows.append([seen, seen, field_ip.get_db_prep_save(ip, connection), device_id])
            if len(rows) == 1:  # one statement commits by itself
                with connection.cursor() as cursor:
                    cursor.execute(_update_sql(), rows[0])
                return 1
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(_update_sql(), rows)
            return len(rows)

    def _run(self, interval: float) -> None:
        atexit.register(self._flush_quietly)
        while interval:
            time.sleep(interval)
            self._flush_quietly()
            interval = settings.DEVICE_SEEN_BATCH_SECONDS
        # Batching was switched off (settings changed at run time, as tests do): requests now
        # write their own sightings. Leave nothing queued and no connection open behind.
        with self.lock:
            self.pid = None  # batching switched on again starts a new thread
        self._flush_quietly()
        connection.close()

    def _flush_quietly(self) -> None:
        if not self.pending:
            return  # an idle process leaves the database (and its connection) alone
        try:
            self.flush()
        except Exception:
            logger.exception("writing last-seen times failed")
        finally:
            connection.close_if_unusable_or_obsolete()


recorder = SeenRecorder()
