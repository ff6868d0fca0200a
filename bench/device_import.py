#!/usr/bin/env python
"""Bulk whitelisting from CSV, end to end, on PostgreSQL.

    .venv/bin/python bench/device_import.py [--rows 100000] [--certificates 20000]

Recreates the PostgreSQL database named by ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/murano_import_bench``), migrates it, creates an account and
a connector, then uploads CSV files through ``POST /api/v1/connectors/<id>/devices/import/``
with Celery in eager mode (the job runs inside the POST, in this process, as the worker would
run it) and reads the finished job from ``/api/v1/jobs/<id>/``. Each stage prints rows/s from
the upload to the finished job:

1. ``--rows`` new devices with two tags each (the seeds' identities.csv shape);
2. the same file again (idempotent: every row unchanged);
3. the same file with one row in ten changed (a tag value);
4. ``--certificates`` new devices with a self-signed certificate each (PEM parsing dominates).

The client, the worker and PostgreSQL share the machine's cores: figures are a floor.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/murano_import_bench"
TARGET_ROWS_PER_S = 20_000

try:
    import psycopg
except ImportError:  # pragma: no cover - started with the wrong interpreter
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    raise


def recreate_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    if not name or name.startswith("test"):
        raise SystemExit(f"refusing to recreate the database {name!r}")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # no platform runs here: pushes are dropped, nobody listens
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "murano.settings")
    os.environ["DEBUG"] = "false"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed_like_csv(rows: int, *, changed_every: int = 0) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ID", "TLS Client Certificate", "Tags"])
    for n in range(rows):
        group = f"g{n // 1000}" if not changed_every or n % changed_every else "moved"
        tags = [{"name": "group", "value": group}, {"name": "claim_code", "value": f"c{n % 977}"}]
        writer.writerow([f"{n:08d}", "", json.dumps(tags)])
    return buffer.getvalue().encode()


def certificates_csv(rows: int) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    # One key signs every certificate: making keys is not what is measured.
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ID", "TLS Client Certificate", "Tags"])
    for n in range(rows):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"9{n:07d}")])
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(n + 1).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256())
        )  # fmt: skip
        writer.writerow([f"9{n:07d}", certificate.public_bytes(serialization.Encoding.PEM).decode(), ""])
    return buffer.getvalue().encode()


def run_import(client, connector_id: str, label: str, data: bytes, rows: int) -> dict:
    upload = io.BytesIO(data)
    upload.name = "identities.csv"
    started = time.perf_counter()
    response = client.post(f"/api/v1/connectors/{connector_id}/devices/import/", {"file": upload})
    if response.status_code != 202:
        raise SystemExit(f"{label}: {response.status_code} {response.content[:300]!r}")
    job = client.get(f"/api/v1/jobs/{response.json()['id']}/").json()
    elapsed = time.perf_counter() - started
    if job["state"] != "finished":
        raise SystemExit(f"{label}: job {job['state']}: {job['detail']}")
    result = {
        "stage": label,
        "rows": rows,
        "csv_mb": round(len(data) / 1e6, 1),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "created": job["created"],
        "updated": job["updated"],
        "unchanged": job["unchanged"],
        "errors": job["error_count"],
    }
    print(
        f"{label:<34} {rows:>8,} rows {result['csv_mb']:>6} MB {elapsed:>7.2f} s "
        f"{result['rows_per_s']:>8,} rows/s  created {job['created']:,} updated {job['updated']:,} "
        f"unchanged {job['unchanged']:,} errors {job['error_count']:,}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--certificates", type=int, default=20_000)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    recreate_database(url)
    setup_django(url)
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from accounts.services import account_create
    from connectors.services import connector_create

    call_command("migrate", verbosity=0)
    user = account_create(
        email="bench@example.com", password="bench-password-long-enough", business_name="Bench", role="admin"
    ).user
    connector = connector_create(
        business=user.businesses.get(), name="Import bench", settings={"identity_type": "base10"}
    )
    client = APIClient(SERVER_NAME="localhost")
    client.force_authenticate(user)

    data = seed_like_csv(args.rows)
    results = [
        run_import(client, connector.pk, "new devices, 2 tags each", data, args.rows),
        run_import(client, connector.pk, "same file again (idempotent)", data, args.rows),
        run_import(
            client,
            connector.pk,
            "same file, 1 row in 10 changed",
            seed_like_csv(args.rows, changed_every=10),
            args.rows,
        ),  # fmt: skip
    ]
    if args.certificates:
        results.append(
            run_import(
                client,
                connector.pk,
                "new devices with a certificate",
                certificates_csv(args.certificates),
                args.certificates,
            )  # fmt: skip
        )
    first = results[0]["rows_per_s"]
    verdict = "meets" if first >= TARGET_ROWS_PER_S else "misses"
    print(f"new devices: {first:,} rows/s ({verdict} the {TARGET_ROWS_PER_S:,} rows/s target)")


if __name__ == "__main__":
    main()
