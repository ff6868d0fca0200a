"""The claiming tests' fixtures live in ``tests.portal_fixtures`` (shared with the portal's)."""

from tests.portal_fixtures import PORTAL_PASSWORD, PortalClient, portal_host, session_token, tags_of

__all__ = ["PORTAL_PASSWORD", "PortalClient", "portal_host", "session_token", "tags_of"]
