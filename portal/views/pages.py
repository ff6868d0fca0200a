"""The portal's pages. (Being built: the pages helper fills this in.)"""

from django.http import Http404
from django.views.decorators.http import require_safe

from portal.presenters import render_page


@require_safe
def landing(request):
    """``/``: the device maker's landing page (slogans, the device, its specs)."""
    return render_page(request, "portal/landing.html", {"nav": "home"})


def claim(request, *args, **kwargs):
    raise Http404


def device_list(request, *args, **kwargs):
    raise Http404


def device_state(request, *args, **kwargs):
    raise Http404


def device_firmware(request, *args, **kwargs):
    raise Http404


def device_release(request, *args, **kwargs):
    raise Http404


def device_detail(request, *args, **kwargs):
    raise Http404


def apps(request, *args, **kwargs):
    raise Http404


def notice_dismiss(request, *args, **kwargs):
    raise Http404
