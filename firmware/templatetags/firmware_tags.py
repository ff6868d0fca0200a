"""Firmware statuses as the pages show them: a device's update status or a rollout's state in
words, coloured by what it means (failed red, succeeded green, waiting grey, under way blue), so
that colour is never the only sign (WCAG 1.4.1)."""

from django import template
from django.utils.html import format_html, json_script

from firmware.models import RolloutState, UpdateStatus, is_failed_status

register = template.Library()

_MEANINGS = {
    UpdateStatus.QUEUED: "pending",
    UpdateStatus.SENT: "pending",
    UpdateStatus.INSTALL_SUCCESS: "succeeded",
    UpdateStatus.CANCELLED: "cancelled",
}
_STATE_MEANINGS = {
    RolloutState.RUNNING: "running",
    RolloutState.PAUSED: "paused",
    RolloutState.COMPLETED: "succeeded",
    RolloutState.CANCELLED: "cancelled",
}


def update_status_meaning(status: str) -> str:
    """``failed``, ``succeeded``, ``pending``, ``cancelled`` or (a device's progress reports)
    ``running``: the class suffix of the status's badge."""
    if is_failed_status(status):
        return "failed"
    return _MEANINGS.get(status, "running")


def _label(status: str) -> str:
    # Devices may report any *_ERROR; those not in the list are shown as they were reported.
    return UpdateStatus(status).label if status in UpdateStatus.values else status


@register.simple_tag
def update_status(status: str, count: int | None = None):
    """``<span class="fw-status fw-status-failed" title="DOWNLOAD_ERROR">Download failed 2</span>``."""
    return format_html(
        '<span class="fw-status fw-status-{}" title="{}" data-status="{}">{}{}</span>',
        update_status_meaning(status), status, status, _label(status),
        "" if count is None else format_html(' <span class="fw-count">{}</span>', count),
    )  # fmt: skip


@register.simple_tag
def rollout_state(rollout):
    """The rollout's state as a badge (``Running``, ``Paused``…)."""
    return format_html(
        '<span class="fw-status fw-status-{}" data-rollout-state>{}</span>',
        _STATE_MEANINGS.get(rollout.state, "running"), rollout.get_state_display(),
    )  # fmt: skip


@register.simple_tag
def update_status_words():
    """Every known status's words and meaning, for static/js/rollout.js to draw live counts the
    same way (as JSON in a ``<script type="application/json">``, which the CSP allows)."""
    words = {status: [label, update_status_meaning(status)] for status, label in UpdateStatus.choices}
    states = {state: [label, _STATE_MEANINGS[state]] for state, label in RolloutState.choices}
    return json_script({"statuses": words, "states": states}, "fw-status-words")
