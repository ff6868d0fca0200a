"""The branding files on a portal host. (Being built: the branding helper fills this in.)"""

from django.http import Http404


def vendor_file(request, name):
    raise Http404("No such file.")


def theme_css(request):
    raise Http404("No such file.")
