"""Small factories for tests: real services, no shortcuts around the rules."""

import itertools

from accounts.services import account_create
from connectors.services import connector_create, resource_create
from devices.services import device_whitelist

PASSWORD = "correct-horse-battery-staple-42"
_seq = itertools.count(1)


def make_member(*, business_name: str, role: str, email: str | None = None):
    email = email or f"user{next(_seq)}@example.com"
    return account_create(email=email, password=PASSWORD, business_name=business_name, role=role)


def make_connector(*, business, name: str = "Thermostat", **settings):
    return connector_create(business=business, name=name, settings=settings)


def make_resource(*, connector, alias: str, format: str = "string", **fields):
    return resource_create(connector=connector, alias=alias, format=format, **fields)


def make_device(*, connector, identity: str | None = None, **kwargs):
    return device_whitelist(connector=connector, identity=identity or f"dev{next(_seq)}", **kwargs)
