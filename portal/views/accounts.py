"""End users' accounts on a portal host. (Being built: the pages helper fills this in.)"""

from django.http import Http404


def signup(request, *args, **kwargs):
    raise Http404


def login(request, *args, **kwargs):
    raise Http404


def logout(request, *args, **kwargs):
    raise Http404


def verify(request, *args, **kwargs):
    raise Http404


def password_reset_request(request, *args, **kwargs):
    raise Http404


def password_reset_confirm(request, *args, **kwargs):
    raise Http404


def account(request, *args, **kwargs):
    raise Http404
