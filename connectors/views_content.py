"""Web UI: the connector's Content tab — its files, uploads (with a progress bar), deletions.

With JavaScript the upload form sends the file to the management API
(``POST /api/v1/connectors/<id>/content/``, session cookie and CSRF header) and shows its
progress; without, it posts here and the page comes back with the result. Both end in
``connectors.content.services.content_upload``, held to the size limit while the file streams in.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.content import services
from connectors.content.errors import ContentTooLarge
from connectors.content.selectors import content_get, content_list
from connectors.content.uploads import content_upload_handlers
from connectors.selectors import ConnectorAccess, connector_access
from connectors.views import tab_context
from core.forms import UiForm
from core.sizes import size_text


class ContentUploadForm(UiForm):
    file = forms.FileField(allow_empty_file=True)
    id = forms.CharField(
        required=False, max_length=1000, label="Id", strip=False,
        help_text="Letters, digits, “.”, “_” and “-”; default: the file's name. "
        "A firmware package's metadata (JSON) goes under an id starting with package_.",
    )  # fmt: skip
    description = forms.CharField(required=False, max_length=1000)
    content_type = forms.CharField(
        required=False, max_length=255, label="MIME type", help_text="Default: guessed from the file."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[
            "file"
        ].help_text = f"Under {size_text(settings.CONTENT_MAX_BYTES + 1)}. An existing id is replaced."


def _too_large_text(exc: ContentTooLarge) -> str:
    """The refusal in the page's size format (the API's says the exact number of bytes)."""
    return f"The file is too large: content items must be smaller than {size_text(exc.limit + 1)}."


def _content_page(request, access: ConnectorAccess, form: ContentUploadForm, status: int = 200,
                  upload_error: str = ""):  # fmt: skip
    connector = access.connector
    return render(
        request,
        "content/content_list.html",
        tab_context(
            access,
            "content",
            items=content_list(connector=connector),
            form=form,
            upload_url=reverse("connectors-api:content-list", kwargs={"connector_id": connector.pk}),
            max_bytes=settings.CONTENT_MAX_BYTES,
            upload_error=upload_error,
        ),
        status=status,
    )


@login_required
@require_GET
def content_page(request, connector_id):
    """The connector's content items, and (for writers) the upload form."""
    access = connector_access(user=request.user, connector_id=connector_id)
    return _content_page(request, access, ContentUploadForm())


@csrf_exempt
@login_required
@require_POST
def content_upload_page(request, connector_id):
    """The upload form without JavaScript. The upload handler must be in place before the CSRF
    check reads the body, hence CSRF is checked here, after it (Django's documented pattern)."""
    content_upload_handlers(request, limit=settings.CONTENT_MAX_BYTES)
    try:
        return _content_upload(request, connector_id)
    except ContentTooLarge as exc:
        # Refused while the body streamed in, before a form could be bound to it.
        access = connector_access(user=request.user, connector_id=connector_id, action="write")
        return _content_page(
            request, access, ContentUploadForm(), status=413, upload_error=_too_large_text(exc)
        )


@csrf_protect
def _content_upload(request, connector_id):
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    form = ContentUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _content_page(request, access, form, status=400)
    upload = form.cleaned_data["file"]
    content_type = form.cleaned_data["content_type"] or None
    if content_type is None and upload.content_type not in (None, "", "application/octet-stream"):
        content_type = upload.content_type
    try:
        item, created = services.content_upload(
            connector=access.connector,
            content_id=form.cleaned_data["id"] or upload.name,
            stream=upload,
            content_type=content_type,
            description=form.cleaned_data["description"] or None,  # blank keeps a replaced item's
            length=upload.size,
        )
    except ContentTooLarge as exc:
        form.add_error("file", _too_large_text(exc))
        return _content_page(request, access, form, status=413)
    except ValidationError as exc:
        form.add_service_errors(exc)
        return _content_page(request, access, form, status=400)
    finally:
        upload.close()
    messages.success(request, f"“{item.content_id}” {'uploaded' if created else 'replaced'}.")
    return redirect("connectors:connector-content", connector_id=connector_id)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def content_delete_page(request, connector_id, content_id):
    """Delete an item after a confirmation (developers and admins)."""
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    item = content_get(connector=access.connector, content_id=content_id)
    if request.method == "POST":
        services.content_delete(item=item)
        messages.success(request, f"“{content_id}” deleted.")
        return redirect("connectors:connector-content", connector_id=connector_id)
    return render(request, "content/content_delete.html", tab_context(access, "content", item=item))
