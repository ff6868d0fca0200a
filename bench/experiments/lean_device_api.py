"""EXPERIMENT, not production code: the device API hot path as docs/operations.md proposes it,
applied by monkeypatching at import so the benchmark can measure the proposal before anyone
changes the app:

    .venv/bin/python bench/device_api.py \
        --wsgi-app bench.experiments.lean_device_api:wsgi_application \
        --asgi-app bench.experiments.lean_device_api:asgi_application

What it changes (each maps to a proposed change in the report / docs/operations.md):

1. token authentication: one hand-written SQL join (device + the 3 connector columns the
   handler needs) instead of ``Device.objects.select_related("connector").filter().first()``,
   whose query compilation (ORDER BY identity, ~40 selected columns, two model instances) is
   most of the CPU of a device request;
2. ``device_read``: one hand-written SELECT of (alias, reported, set, timestamp);
3. ``device_write``: state upserts + history insert as ONE statement (data-modifying CTEs) in
   autocommit: atomic without BEGIN/COMMIT round trips and without the ORM bulk_create;
4. token activation of a new identity (presenter identity): ONE ``INSERT .. ON CONFLICT DO
   NOTHING RETURNING id`` that creates the device provisioned; anything else (whitelisted,
   locked, expired, password, IP whitelist...) falls back to the real service;
5. no per-request ``SELECT 1`` health check (CONN_HEALTH_CHECKS off) for the WSGI pool;
6. Daphne: no value check inside ``handle()`` for long polls (the adapter checks right after
   subscribing anyway), and a plain ``loop.run_in_executor`` instead of asgiref's
   ``sync_to_async`` for the device handlers;
8. ``device_seen``: one hand-written UPDATE (env LEAN_SEEN_RESOLUTION: seconds between
   last_seen updates, default 1 as in the app);
7. optional (env LEAN_PREPARE=1): server-side binding + prepared statements.

Tied to the app's internals as of this benchmark; if they move, this module fails loudly.
"""

import os
import threading
from collections import namedtuple

_SERVER = os.environ.get("MURANO_SERVER", "")


def _patch() -> None:
    from django.db import connection, connections
    from django.utils import timezone

    from connectors.models import AuthType, Connector
    from devices import credentials, selectors, services
    from devices.device_api import handlers
    from devices.errors import DeviceError, ValueRejected
    from devices.events import EventType, event_emit, now_us
    from devices.models import Device, DeviceState, Lifecycle, ValuePoint

    for name in ("_auth_failed", "_require_transport", "device_read", "long_poll_check", "_read"):
        if not hasattr(handlers, name):
            raise ImportError(f"devices.device_api.handlers.{name} is gone: update this experiment")
    for name in ("_check_values", "_preview", "device_seen", "device_write", "device_activate"):
        if not hasattr(services, name):
            raise ImportError(f"devices.services.{name} is gone: update this experiment")

    settings_dict = connections["default"].settings_dict
    if not settings_dict.get("OPTIONS", {}).get("pool"):
        settings_dict["CONN_HEALTH_CHECKS"] = False
    if os.environ.get("LEAN_PREPARE") == "1":
        settings_dict.setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})

    D, C = Device._meta.db_table, Connector._meta.db_table
    S, V = DeviceState._meta.db_table, ValuePoint._meta.db_table
    dev_fields = ["id", "identity", "connector_id", "locked", "devmode", "last_ip", "last_seen"]
    by_token = (
        f"SELECT d.id, d.identity, d.connector_id, d.locked, d.devmode, d.last_ip, d.last_seen, "
        f"c.devmode, c.updated_at FROM {D} d JOIN {C} c ON c.id = d.connector_id WHERE d.token_hash = %s"
    )

    def device_for_token(token_hash):
        with connection.cursor() as cursor:
            cursor.execute(by_token, [token_hash])
            row = cursor.fetchone()
        if row is None:
            return None
        # Deferred instances: a later save() writes only these fields.
        device = Device.from_db("default", dev_fields, row[:7])
        device.connector = Connector.from_db(
            "default", ["id", "devmode", "updated_at"], (row[2], row[7], row[8])
        )
        return device

    orig_authenticate = handlers._authenticate

    def _authenticate(ctx):
        token = ctx.request.header("x-exosite-cik")
        if token is None:
            return orig_authenticate(ctx)
        token = token.strip()
        if not credentials.token_is_well_formed(token):
            raise handlers._auth_failed(ctx, "malformed_token")
        device = device_for_token(credentials.token_hash(token))
        if device is None or device.connector_id != ctx.connector_id:
            raise handlers._auth_failed(ctx, "unknown_token")
        if device.locked:
            event_emit(
                connector_id=ctx.connector_id,
                type=EventType.LOCKED_DENIED,
                identity=device.identity,
                ip=ctx.ip,
                connection_id=ctx.connection_id,
            )
            raise DeviceError("device is locked", status=403)
        handlers._require_transport(ctx, device.connector)
        services.device_seen(device, ip=ctx.ip, insecure=ctx.insecure)
        return device

    State = namedtuple("State", "alias reported set timestamp")
    read_sql = f'SELECT alias, reported, "set", timestamp FROM {S} WHERE device_id = %s AND alias = ANY(%s)'

    def device_read(*, device_id, aliases, rules):
        defined = [a for a in aliases if a in rules]
        if not defined:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(read_sql, [device_id, defined])
            states = {row[0]: State(*row) for row in cursor.fetchall()}
        result = {}
        for alias in defined:
            value, timestamp = selectors.readable_value(rules[alias], states.get(alias))
            if value is not None:
                result[alias] = (value, timestamp)
        return result

    def device_write(*, device, values, rules, ip="", connection_id="", protocol="http"):
        try:
            services._check_values(values, rules)
        except ValueRejected as exc:
            event_emit(
                connector_id=device.connector_id,
                type=EventType.WRITE_REJECTED,
                identity=device.identity,
                ip=ip,
                protocol=protocol,
                connection_id=connection_id,
                payload={"reason": exc.message, "values": services._preview(values)},
            )
            raise
        timestamp = now_us()
        rows = [(a, v, rules[a].pushes_cloud_values) for a, v in values.items() if a in rules]
        if rows:
            ctes, params = [], []
            for n, keeps in enumerate((False, True)):
                part = [r for r in rows if r[2] == keeps]
                if not part:
                    continue
                for a, v, _ in part:
                    params += [device.pk, a, v, v, timestamp]
                set_expr = 'excluded."set"'
                if keeps:  # a pending cloud set stays until the device reports that value
                    set_expr = (
                        f'CASE WHEN {S}."set" IS NOT NULL AND ({S}.reported IS NULL OR '
                        f'{S}."set" <> {S}.reported) THEN {S}."set" ELSE excluded."set" END'
                    )
                ctes.append(
                    f'u{n} AS (INSERT INTO {S} (device_id, alias, reported, "set", timestamp) VALUES '
                    + ", ".join(["(%s, %s, %s, %s, %s)"] * len(part))
                    + f" ON CONFLICT (device_id, alias) DO UPDATE SET reported = excluded.reported, "
                    f'"set" = {set_expr}, timestamp = excluded.timestamp)'
                )
            for a, v, _ in rows:
                params += [device.pk, a, timestamp, v]
            sql = (
                f"WITH {', '.join(ctes)} INSERT INTO {V} (device_id, alias, timestamp, value) VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * len(rows))
            )
            with connection.cursor() as cursor:  # one statement: atomic on its own (autocommit)
                cursor.execute(sql, params)
        event_emit(
            connector_id=device.connector_id,
            type=EventType.DATA_IN,
            identity=device.identity,
            ip=ip,
            protocol=protocol,
            connection_id=connection_id,
            payload=[{"timestamp": timestamp, "values": services._preview(values)}],
            wake_device_id=device.pk if rows else None,
        )

    orig_activate = services.device_activate
    insert_sql = (
        f"INSERT INTO {D} (connector_id, identity, lifecycle, auth_type, token_hash, password_hash, "
        f"certificate, certificate_fingerprint, locked, devmode, last_ip, last_seen, provisioned_at, "
        f"created_at) VALUES (%s, %s, %s, %s, %s, '', '', '', false, false, %s, %s, %s, %s) "
        f"ON CONFLICT (connector_id, identity) DO NOTHING RETURNING id"
    )

    def device_activate(*, connector, identity, password, ip, connection_id="", protocol="http", **kw):
        fast = (
            password is None
            and identity
            and connector.auth_type == AuthType.TOKEN
            and connector.presenter_identity
            and connector.provisioning_enabled
            and not connector.ip_whitelisting_enabled
            and not connector.identity_format.check(identity)
            and not (kw.get("insecure") and not connector.devmode)
        )
        if fast:
            token, now = credentials.token_new(), timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(
                    insert_sql,
                    [
                        connector.pk,
                        identity,
                        Lifecycle.PROVISIONED,
                        AuthType.TOKEN,
                        credentials.token_hash(token),
                        ip or None,
                        now,
                        now,
                        now,
                    ],
                )
                row = cursor.fetchone()
            if row is not None:
                device = Device.from_db(
                    "default", dev_fields, (row[0], identity, connector.pk, False, False, ip or None, now)
                )
                event_emit(
                    connector_id=connector.pk,
                    type=EventType.PROVISIONED,
                    identity=identity,
                    ip=ip,
                    protocol=protocol,
                    connection_id=connection_id,
                    payload={"auth_type": AuthType.TOKEN},
                )
                return device, token
        # Existing identity (whitelisted, provisioned, locked, expired...) or another auth type.
        return orig_activate(
            connector=connector,
            identity=identity,
            password=password,
            ip=ip,
            connection_id=connection_id,
            protocol=protocol,
            **kw,
        )

    seen_resolution = float(os.environ.get("LEAN_SEEN_RESOLUTION", "1"))

    def device_seen(device, *, ip, insecure):
        # Same rule as services.device_seen, one hand-written UPDATE.
        now = timezone.now()
        fields = {}
        if device.last_ip != ip and ip:
            fields["last_ip"] = ip
        if device.last_seen is None or (now - device.last_seen).total_seconds() >= seen_resolution:
            fields["last_seen"] = now
        if insecure and not device.devmode:
            fields["devmode"] = True
        if fields:
            assignments = ", ".join(f"{Device._meta.get_field(k).column} = %s" for k in fields)
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {D} SET {assignments} WHERE id = %s", [*fields.values(), device.pk])
            for key, value in fields.items():
                setattr(device, key, value)

    services.device_seen = device_seen
    handlers._authenticate = _authenticate
    handlers.device_read = device_read
    services.device_write = device_write
    services.device_activate = device_activate

    if _SERVER == "asgi":
        local = threading.local()
        orig_read, orig_check = handlers._read, handlers.long_poll_check

        def _read(ctx):
            local.skip = True
            try:
                return orig_read(ctx)
            finally:
                local.skip = False

        def long_poll_check(wait):
            # Inside handle(): skipped; the ASGI adapter checks right after subscribing.
            return None if getattr(local, "skip", False) else orig_check(wait)

        handlers._read = _read
        handlers.long_poll_check = long_poll_check

        # A plain executor call instead of asgiref's sync_to_async (CurrentThreadExecutor,
        # main_wrap, shield... per call): the device handlers need none of it.
        import asyncio
        import contextvars

        from devices.device_api import asgi as device_asgi

        async def run_sync(func, *args):
            loop = asyncio.get_running_loop()
            context = contextvars.copy_context()
            return await loop.run_in_executor(
                device_asgi._pool(), context.run, device_asgi._closing(func), *args
            )

        device_asgi.run_sync = run_sync


def __getattr__(name):
    global _SERVER
    if name == "wsgi_application":
        from murano.wsgi import application

        _patch()
        return application
    if name == "asgi_application":
        os.environ.setdefault("MURANO_SERVER", "asgi")
        _SERVER = "asgi"
        from murano.asgi import application

        _patch()
        return application
    raise AttributeError(name)
