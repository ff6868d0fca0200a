"""The Integration tab of a connector: another cloud's API feeding it (docs/integrations.md).

One page (``/connectors/<id>/integration/``) with the spec (pasted or uploaded), the
configuration form generated from its ``x-exosite-config-parameters``, the sync settings, the
health and last-run panels ("Check now", "Sync now" with a live progress bar) and a form to try
any operation of the spec; removing the integration has a confirmation page.

Saving: the configuration form and the sync settings follow from the spec, so the form is
generated from the spec being posted when it is valid (else from the saved one). Every save
goes to ``services.integration_put``, which checks everything at once: a new spec saves when
its configuration and sync settings are complete, otherwise the page comes back with the new
spec's form, what was typed and every problem next to its field (the first save of an
integration always takes two steps: its operations are not known before its spec).

Adapters like the API's: access through ``connector_access`` (viewers read, their posts are
403; someone else's connector is a 404), then one service or selector call. Secrets are never
rendered: password inputs are never filled, the page only says whether each is set.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import action_for_method
from connectors.selectors import connector_access
from connectors.views import tab_context
from integrations import selectors, services
from integrations.client import CallFailed
from integrations.forms import IntegrationForm, OperationForm
from integrations.operations import NoSuchOperation, operation_call, operations_list
from integrations.presenters import answer_text, integration_device_count, secrets_set
from integrations.spec import SpecInvalid, spec_load

TAB = "integration"


def _access(request, connector_id):
    return connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    )


def _page_url(connector_id, anchor: str = "") -> str:
    return reverse("integrations:integration", kwargs={"connector_id": connector_id}) + anchor


def _where_what(problem: str) -> tuple[str, str]:
    """A spec problem, ``"<where in the document>: <what>"``, as its two parts."""
    where, separator, what = problem.partition(": ")
    return (where, what) if separator else ("", problem)


def _tester(spec, operation_id: str | None, *, form=None, result=None) -> dict | None:
    """The operation tester: the chosen operation (the first one by default) and its form."""
    if spec is None or not spec.operations:
        return None
    operation = spec.operations.get(operation_id or "") or next(iter(spec.operations.values()))
    return {
        "operation": operation,
        "form": form or OperationForm(spec=spec, operation=operation, auto_id="id_try_%s"),
        "result": result,
    }


def _page(request, access, *, form=None, tester=None, spec_notice="", status=200):
    connector = access.connector
    integration = selectors.integration_find(connector=connector)
    saved_spec = services.integration_spec(integration) if integration is not None else None
    info = selectors.integration_json(integration, saved_spec) if integration is not None else None
    if form is None:
        form = IntegrationForm(
            initial=IntegrationForm.initial_of(integration), spec=saved_spec, secrets_set=secrets_set(info)
        )
    if tester is None and saved_spec is not None:
        tester = _tester(saved_spec, request.GET.get("operation"))
    job = selectors.last_sync(integration) if integration is not None else None
    shown_spec = form.form_spec
    return render(
        request,
        "integrations/integration.html",
        tab_context(
            access,
            TAB,
            integration=integration,
            info=info,
            form=form,
            spec_fields=[form["spec"], form["spec_file"]],
            config_fields=[form[name] for name in form.config_names],
            sync_fields=[form[name] for name in form.sync_names],
            shown_spec=shown_spec,
            shown_spec_saved=shown_spec is not None
            and saved_spec is not None
            and shown_spec.document == saved_spec.document,
            spec_notice=spec_notice,
            spec_problems=[_where_what(problem) for problem in form.errors.get("spec", [])],
            job=job,
            last_sync=info["last_sync"] if info else None,
            operations=operations_list(saved_spec) if saved_spec is not None else [],
            tester=tester,
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def integration_page(request, connector_id):
    """The Integration tab; posting saves the spec, configuration and sync settings."""
    access = _access(request, connector_id)
    if request.method != "POST":
        return _page(request, access)
    connector = access.connector
    integration = selectors.integration_find(connector=connector)
    saved_spec = services.integration_spec(integration) if integration is not None else None
    info = selectors.integration_json(integration, saved_spec) if integration is not None else None

    # Which spec the posted form is about: the posted one when valid, else the saved one.
    first = IntegrationForm(request.POST, request.FILES)
    spec_text, file_problem, new_spec = None, None, None
    if first.is_valid():
        try:
            spec_text = first.spec_text()
        except ValidationError as exc:
            file_problem = exc
    if spec_text is not None:
        try:
            new_spec = spec_load(spec_text)
        except SpecInvalid:
            new_spec = None
    data = request.POST.copy()
    if spec_text is not None:
        data["spec"] = spec_text  # an uploaded file's text shows in the textarea from now on
    form_spec = new_spec or saved_spec
    form = IntegrationForm(spec=form_spec)
    # Fields the posted page did not show (a new spec's) start from their defaults or saved values.
    data = form.unshown_filled(
        data, set(request.POST.getlist("shown")), IntegrationForm.initial_of(integration)
    )
    form = IntegrationForm(data, spec=form_spec, secrets_set=secrets_set(info))
    form.is_valid()
    if spec_text is None:
        for name, errors in first.errors.items():
            for error in errors:
                form.add_error(name if name in form.fields else None, error)
        if file_problem is not None:
            form.add_error("spec_file", file_problem)
        return _page(request, access, form=form, status=400)
    try:
        services.integration_put(connector=connector, data=form.service_data(spec_text), user=request.user)
    except ValidationError as exc:
        form.add_service_errors(exc)
        for name in form.config_names:
            field = form.fields[name]
            if (
                getattr(field, "widget", None)
                and field.widget.input_type == "password"
                and form.data.get(name)
            ):
                form.add_error(name, "Type it again: secrets are never shown back.")
        notice = ""
        if new_spec is not None and (saved_spec is None or new_spec.document != saved_spec.document):
            notice = (
                f"The spec is valid: {new_spec.title} {new_spec.version} ({len(new_spec.operations)} "
                f"operations at {new_spec.host}). It is not saved yet: fill in its configuration and "
                "sync settings below, then save."
            )
        return _page(request, access, form=form, spec_notice=notice, status=400)
    messages.success(request, "Integration saved." if integration is not None else "Integration created.")
    return redirect(_page_url(connector.pk))


@login_required
@require_POST
def integration_sync(request, connector_id):
    """Sync now: a run as a job (the one under way when there is one)."""
    access = _access(request, connector_id)
    integration = selectors.integration_get(connector=access.connector)
    _, started = services.sync_start(integration=integration, user=request.user)
    if started:
        messages.success(request, "Sync started.")
    else:
        messages.warning(request, "A sync is already under way: its progress is below.")
    return redirect(_page_url(access.connector.pk, "#last-run"))


@login_required
@require_POST
def integration_health(request, connector_id):
    """Check now: ``GET`` the API's health path."""
    access = _access(request, connector_id)
    integration = selectors.integration_get(connector=access.connector)
    outcome = services.health_check(integration=integration)
    if outcome.error:
        messages.error(request, f"The API is unhealthy: {outcome.error}")
    else:
        messages.success(request, "The API is healthy.")
    return redirect(_page_url(access.connector.pk, "#health"))


@login_required
@require_POST
def operation_try(request, connector_id):
    """Call one operation of the spec with the parameters typed: the third party's status and
    JSON (200), the parameters' problems (400), or why it could not be reached (502)."""
    access = _access(request, connector_id)
    integration = selectors.integration_get(connector=access.connector)
    spec = services.integration_spec(integration)
    operation_id = request.POST.get("operation", "")
    operation = spec.operations.get(operation_id)
    if operation is None:
        first = next(iter(spec.operations.values()), None)
        tester = None
        if first is not None:
            form = OperationForm({}, spec=spec, operation=first, auto_id="id_try_%s")
            form.is_valid()
            form.add_error(None, f"The spec has no operation {operation_id[:100]}.")
            tester = _tester(spec, first.operation_id, form=form)
        return _page(request, access, tester=tester, status=400)
    form = OperationForm(request.POST, spec=spec, operation=operation, auto_id="id_try_%s")
    form.is_valid()  # text fields only: the service checks the values
    status, result = 200, None
    try:
        params, body = form.call_arguments()
        answer = operation_call(integration=integration, operation_id=operation_id, params=params, body=body)
    except ValidationError as exc:
        form.add_service_errors(exc)
        status = 400
    except NoSuchOperation:
        form.add_error(None, f"The spec has no operation {operation_id}.")
        status = 400
    except CallFailed as exc:
        status, result = 502, {"unreachable": exc.reason}
    else:
        text, is_json = answer_text(answer.body)
        result = {"status": answer.status, "ok": answer.ok, "body": text, "is_json": is_json}
    return _page(request, access, tester=_tester(spec, operation_id, form=form, result=result), status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def integration_delete(request, connector_id):
    """Remove the integration (a confirmation first); its devices and their values stay."""
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    integration = selectors.integration_get(connector=access.connector)
    if request.method == "POST":
        services.integration_delete(integration=integration)
        messages.success(request, "Integration removed. Its devices stay, with their values.")
        return redirect(_page_url(access.connector.pk))
    devices = integration_device_count(connector=access.connector)
    return render(
        request,
        "integrations/integration_delete.html",
        tab_context(access, TAB, integration=integration, info=selectors.integration_json(integration),
                    device_count=devices),
    )  # fmt: skip
