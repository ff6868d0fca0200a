"""Web UI of firmware updates: the packages, the rollouts and a form to start one, and a
rollout's page with its counts per status (kept live by polling the management API).

Adapters like the API's: access through the connectors' page scoping (``connector_access``),
then one service call. The pages are the connector's Firmware updates tab (the packages
themselves are uploaded on the Content tab).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors import services as connector_services
from connectors.selectors import connector_access
from connectors.views import tab_context
from firmware import selectors, services
from firmware.forms import RolloutForm
from firmware.models import RolloutState, UpdateStatus


def _page(request, access, form, status=200):
    connector = access.connector
    rollouts = list(selectors.rollout_list(connector=connector)[:50])
    counts = selectors.rollout_counts(rollouts)
    for rollout in rollouts:
        rollout.status_counts = sorted(counts[rollout.pk]["total"].items())
    return render(
        request,
        "firmware/firmware.html",
        tab_context(
            access,
            "firmware",
            form=form,
            packages=selectors.package_list(connector=connector),
            rollouts=rollouts,
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def firmware_page(request, connector_id):
    """Packages, rollouts and (for writers) the form that starts an update."""
    access = connector_access(
        user=request.user, connector_id=connector_id, action="read" if request.method != "POST" else "write"
    )
    packages = selectors.package_list(connector=access.connector)
    form = RolloutForm(request.POST or None, packages=packages)
    if request.method == "POST" and form.is_valid():
        try:
            rollout = services.rollout_start(
                connector=access.connector, created_by=request.user, **form.service_arguments()
            )
        except services.FirmwareDisabled as exc:
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request, f"Update to {rollout.version} started for {rollout.device_count} device(s)."
            )
            return redirect("firmware:rollout-detail", connector_id=connector_id, rollout_id=rollout.pk)
    return _page(request, access, form, status=400 if form.errors else 200)


@login_required
@require_POST
def firmware_settings(request, connector_id):
    """Turn firmware updates on or off (the connector setting)."""
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    enabled = request.POST.get("enabled") == "1"
    connector_services.connector_update(
        connector=access.connector, changes={"firmware_update_enabled": enabled}
    )
    messages.success(request, "Firmware updates are on." if enabled else "Firmware updates are off.")
    return redirect("firmware:firmware", connector_id=connector_id)


@login_required
@require_GET
def rollout_page(request, connector_id, rollout_id):
    """One rollout: counts per status overall and per wave, its devices, and its controls."""
    access = connector_access(user=request.user, connector_id=connector_id)
    rollout = selectors.rollout_get(connector=access.connector, rollout_id=rollout_id)
    counts = selectors.rollout_counts([rollout])[rollout.pk]
    return render(
        request,
        "firmware/rollout_detail.html",
        tab_context(
            access,
            "firmware",
            rollout=rollout,
            counts=sorted(counts["total"].items()),
            waves=[sorted(wave.items()) for wave in counts["waves"]],
            devices=selectors.rollout_devices(rollout=rollout, limit=200),
            api_url=reverse(
                "firmware-api:rollout-detail", kwargs={"connector_id": connector_id, "rollout_id": rollout.pk}
            ),
            states=RolloutState,
            statuses=UpdateStatus,
            target_filter=_filter_text(rollout.target.get("filter")),
        ),
    )


def _filter_text(device_filter: dict | None) -> str:
    """``{"tag": ["model:t1"], "status": "provisioned"}`` → ``tag model:t1, status provisioned``."""
    if not device_filter:
        return ""
    parts = []
    for name, value in device_filter.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f"{name} {item}")
    return ", ".join(parts)


@login_required
@require_POST
def rollout_state(request, connector_id, rollout_id):
    """Pause, resume or cancel a rollout."""
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    rollout = selectors.rollout_get(connector=access.connector, rollout_id=rollout_id)
    try:
        rollout = services.rollout_set_state(rollout=rollout, state=request.POST.get("state", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Rollout {rollout.pk} is {rollout.state}.")
    return redirect("firmware:rollout-detail", connector_id=connector_id, rollout_id=rollout_id)
