"""How many devices a list matches: exact when that is cheap, else the planner's estimate."""

from __future__ import annotations

import json

from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet

# Matches counted exactly before the first page says "about N" instead.
EXACT_COUNT_LIMIT = 10_000
# Time the exact count may take on PostgreSQL before the estimate is used instead (ms).
COUNT_TIME_BUDGET_MS = 15
# Planner cost of the capped count past which it is not even tried: on the 1,000,000-device
# bench fleet (bench/fleet.py, default planner settings), counts costed above this took longer
# than the time budget, and those below it a few ms.
COUNT_COST_LIMIT = 15_000


def device_count(devices: QuerySet) -> tuple[int, bool]:
    """How many devices match: ``(count, is_estimate)``. ``devices`` may also be rows that stand
    one for one for the matching devices (a :class:`TagWalk`'s tags).

    Exact when there are at most :data:`EXACT_COUNT_LIMIT` matches and PostgreSQL counts them
    within :data:`COUNT_TIME_BUDGET_MS`; otherwise the planner's estimate (``is_estimate``), so
    a first page never scans a million rows to say "1,000,000". When the estimate is already
    far past the limit, or the planner costs the count above :data:`COUNT_COST_LIMIT`, counting
    is not even tried. SQLite (the embedded database, for small
    fleets) always counts exactly.
    """
    connection = connections[devices.db]
    unordered = devices.order_by()
    if connection.vendor != "postgresql":
        return unordered.count(), False
    capped = unordered.values("pk")[: EXACT_COUNT_LIMIT + 1]
    plan = json.loads(capped.explain(format="json"))[0]["Plan"]
    # The capped query's plan is a Limit over the whole match: its input is the estimate.
    estimate = int((plan["Plans"][0] if plan["Node Type"] == "Limit" else plan)["Plan Rows"])
    if estimate > 2 * EXACT_COUNT_LIMIT or plan["Total Cost"] > COUNT_COST_LIMIT:
        return estimate, True
    exact = None
    try:
        with transaction.atomic(using=devices.db), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(COUNT_TIME_BUDGET_MS)])
            exact = capped.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled: over budget
            raise
    if exact is None:
        return estimate, True
    if exact > EXACT_COUNT_LIMIT:
        return max(estimate, exact), True
    return exact, False
