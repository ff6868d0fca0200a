"""Claim codes as product managers handle them: the claim links and QR codes of a device, fresh
random codes for a filtered set of devices (a background job), and the CSV of codes and links.

A device's claim codes are its ``claim_code`` tags (several allowed; by default one equal to its
identity), ``expires`` is when they stop working and ``users`` are its owners (end-user ids):
see ``claiming.models``. The claim rules themselves (who may claim what) are
``claiming.services``'; this module only shows and replaces codes.

Links (shared/docs/claiming-and-portal.md, "Claim links and QR codes"):

- standard: ``<portal_url>#/?claim=<url-encoded code>&product=<connector id>``;
- ExoSense: ``<connector id>.<code>``;
- generic (the code typed by hand): ``<portal_url>#/?claim=``.
"""

import io
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import segno
from django.db import transaction

from claiming.models import EndUser
from claiming.selectors import device_owners
from claiming.services import TAG_CLAIM_CODE, TAG_EXPIRES
from connectors.models import Connector
from devices.filters import FILTER_PARAMETERS, DeviceFilter
from devices.models import Device, DeviceTag
from devices.selectors import devices_in_chunks
from jobs.leases import job_run
from jobs.models import Job, JobKind
from jobs.services import (
    job_create,
    job_dispatch_on_commit,
    job_fail,
    job_outcome,
    job_progress,
)

CLAIM_CODE_TAG, EXPIRES_TAG = TAG_CLAIM_CODE, TAG_EXPIRES

# Random codes: no characters people confuse when they read a label aloud or type it (0/O,
# 1/l/I), upper case only so a code is the same whichever way a phone's keyboard starts.
# 32 symbols × 12 characters = 60 bits: guessing one among a million devices' codes stays
# hopeless within the portal's claim rate limit.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12
# Devices handled per transaction (and per progress report) by a code generation job.
GENERATE_BATCH = 500
CSV_HEADER = ["identity", "claim_code", "claim_url"]


def claim_code_new(length: int = CODE_LENGTH) -> str:
    """A fresh random claim code (``CODE_ALPHABET``, ``length`` characters)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


# --- links -------------------------------------------------------------------------------------


def claim_url(*, portal_url: str, connector_id: str, code: str) -> str:
    """The standard claim link of ``code``: the portal's landing page turns it into its claim page."""
    return f"{portal_url}#/?claim={quote(code, safe='')}&product={quote(connector_id, safe='')}"


def exosense_code(*, connector_id: str, code: str) -> str:
    """The ExoSense form of a claim code: ``<connector id>.<code>``."""
    return f"{connector_id}.{code}"


def generic_claim_url(*, portal_url: str) -> str:
    """The link of a label that carries no code (the owner types it): ``<portal_url>#/?claim=``."""
    return f"{portal_url}#/?claim="


def qr_svg(text: str) -> bytes:
    """A QR code of ``text`` as an SVG document (segno; the link's text in its title)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="svg", scale=4, title=text, xmldecl=True)
    return out.getvalue()


def qr_png(text: str, *, scale: int = 6) -> bytes:
    """A QR code of ``text`` as a PNG image (segno)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale)
    return out.getvalue()


# --- what a device carries ---------------------------------------------------------------------


def device_claim_codes(device: Device) -> list[str]:
    """The device's claim codes, in tag order."""
    return list(
        DeviceTag.objects.filter(device=device, name=CLAIM_CODE_TAG)
        .order_by("value")
        .values_list("value", flat=True)
    )


def device_claim_expires(device: Device) -> int | None:
    """The device's ``expires`` tag (unix seconds), None when absent or not a number."""
    values = DeviceTag.objects.filter(device=device, name=EXPIRES_TAG).values_list("value", flat=True)
    numbers = [int(value) for value in values if value.strip().lstrip("-").isdigit()]
    return min(numbers) if numbers else None


@dataclass(frozen=True)
class ClaimInfo:
    """What a product manager needs to hand a device to its owner: its codes and their links,
    when they expire, and who owns it already."""

    identity: str
    codes: list[str]
    urls: list[str]
    exosense_codes: list[str]
    expires: int | None
    owners: list[EndUser]
    generic_url: str

    @property
    def uses_identity(self) -> bool:
        """Whether a code is the identity (the default): guessable when identities are sequential."""
        return self.identity in self.codes

    def as_dict(self) -> dict:
        return {
            "claim_codes": self.codes,
            "claim_urls": self.urls,
            "exosense_codes": self.exosense_codes,
            "expires": self.expires,
            "owners": [{"id": owner.pk, "email": owner.email} for owner in self.owners],
        }


def device_claim_info(*, device: Device, portal_url: str) -> ClaimInfo:
    """The device's claim codes with their standard and ExoSense forms, ``expires`` and owners."""
    connector_id = device.connector_id
    codes = device_claim_codes(device)
    return ClaimInfo(
        identity=device.identity,
        codes=codes,
        urls=[claim_url(portal_url=portal_url, connector_id=connector_id, code=code) for code in codes],
        exosense_codes=[exosense_code(connector_id=connector_id, code=code) for code in codes],
        expires=device_claim_expires(device),
        owners=device_owners(device),
        generic_url=generic_claim_url(portal_url=portal_url),
    )


def device_claim_code_pick(device: Device, code: str | None) -> str | None:
    """The code a QR image shows: ``code`` when it is one of the device's, else None; without
    ``code``, the device's first (None when it has none)."""
    codes = device_claim_codes(device)
    if code is None or code == "":
        return codes[0] if codes else None
    return code if code in codes else None


# --- many devices: the filter, the CSV and the generation job ----------------------------------


def filter_params(params) -> dict[str, list[str]]:
    """The device-list filters of a query string, as a job keeps them (``{name: [values]}``)."""
    getlist = (
        params.getlist
        if hasattr(params, "getlist")
        else lambda name: [params[name]] if name in params else []
    )
    return {name: values for name in FILTER_PARAMETERS if (values := [str(v) for v in getlist(name)])}


def claim_code_rows(*, connector: Connector, device_filter: DeviceFilter, portal_url: str) -> Iterator[list]:
    """The CSV of the matching devices' codes: a header, then ``identity, claim_code, claim_url``
    per code (a device without a code: one row with empty cells), read a chunk of devices at a
    time. Write them with ``core.csv_safety.csv_writer`` (spreadsheet-safe cells)."""
    yield CSV_HEADER
    for chunk in devices_in_chunks(device_filter.queryset(connector), 2000):
        codes: dict[int, list[str]] = {}
        tags = DeviceTag.objects.filter(device_id__in=[pk for pk, _ in chunk], name=CLAIM_CODE_TAG)
        for device_id, value in tags.order_by("value").values_list("device_id", "value"):
            codes.setdefault(device_id, []).append(value)
        for pk, identity in chunk:
            for code in codes.get(pk) or [None]:
                url = claim_url(portal_url=portal_url, connector_id=connector.pk, code=code) if code else ""
                yield [identity, code or "", url]


@transaction.atomic
def _codes_replace(connector: Connector, chunk: Iterable[tuple[int, str]]) -> int:
    """Give each device of ``chunk`` one fresh random code instead of its ``claim_code`` tags."""
    ids = [pk for pk, _ in chunk]
    # Only devices still there: one deleted since the chunk was read gets no orphan tag.
    live = list(Device.objects.filter(connector=connector, pk__in=ids).values_list("pk", "identity"))
    DeviceTag.objects.filter(device_id__in=[pk for pk, _ in live], name=CLAIM_CODE_TAG).delete()
    DeviceTag.objects.bulk_create(
        DeviceTag(device_id=pk, connector_id=connector.pk, identity=identity, name=CLAIM_CODE_TAG,
                  value=claim_code_new())
        for pk, identity in live
    )  # fmt: skip
    return len(live)


def claim_codes_generate_start(*, connector: Connector, user, params) -> Job:
    """Queue a job that gives every device matching the device-list filters in ``params`` a
    fresh random claim code, replacing its ``claim_code`` tags. Raises ``ValidationError``
    naming a bad filter before anything is queued; returns the job."""
    kept = filter_params(params)
    DeviceFilter.from_params(kept)  # refuse a bad filter now, not in the worker
    with transaction.atomic():
        job = job_create(
            kind=JobKind.CLAIM_CODES, business=connector.business, connector=connector,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            params={"filter": kept},
        )  # fmt: skip
        job_dispatch_on_commit(job=job)
    return job


def claim_codes_generate(*, connector: Connector, device_filter: DeviceFilter, progress=None) -> int:
    """Give every device of ``connector`` matching ``device_filter`` a fresh random claim code
    (its ``claim_code`` tags replaced), a batch per transaction; ``progress(done, total)`` after
    each. Returns how many devices got one. Running it again is harmless: every device ends
    with one fresh code."""
    devices = device_filter.queryset(connector)
    total = devices.count()
    done = 0
    if progress is not None:
        progress(done, total)
    for chunk in devices_in_chunks(devices, GENERATE_BATCH):
        done += _codes_replace(connector, chunk)
        if progress is not None:
            progress(done, total)
    return done


def claim_codes_job_run(*, job_id: str) -> None:
    """Run a queued claim code generation job (the Celery task calls this): claim it, hold its
    lease, report ``total``, ``done`` and ``updated`` after each batch; ``finished``, or
    ``failed`` with the reason. A job resumed after its worker died starts again from the first
    device (every device then gets one fresh code, as asked)."""
    job_run(job_id=job_id, label="claim code", work=_run)


def _run(job) -> None:
    if job.connector is None:
        job_fail(job=job, detail="The job has no connector.")
        return
    failed = (
        "The generation stopped on an internal error; the devices counted as done have new "
        "codes. Generating again is safe."
    )
    with job_outcome(job=job, label="claim code", failed=failed):
        device_filter = DeviceFilter.from_params((job.params or {}).get("filter") or {})

        def progress(done: int, total: int) -> None:
            job_progress(job=job, total=total, done=done, updated=done)

        claim_codes_generate(connector=job.connector, device_filter=device_filter, progress=progress)


__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "ClaimInfo",
    "claim_code_new",
    "claim_code_rows",
    "claim_codes_generate",
    "claim_codes_generate_start",
    "claim_codes_job_run",
    "claim_url",
    "device_claim_code_pick",
    "device_claim_info",
    "exosense_code",
    "generic_claim_url",
    "qr_png",
    "qr_svg",
]
