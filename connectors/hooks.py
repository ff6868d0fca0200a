"""What other apps may react to in the connectors app (``core.hooks``; connect in ``AppConfig.ready``)."""

from core.hooks import Hook

# A connector was created or its settings changed, inside the transaction that saved it:
# ``receiver(connector=<Connector>, fields=<set of changed field names>, created=<bool>)``.
# Firmware updates define their resources when turned on this way.
settings_changed = Hook("connectors.settings_changed")

# A change of identity format was saved: ``receiver(connector=<Connector>)`` returns a list of
# ``connectors.services.SettingsWarning`` about the devices it concerns (the devices app counts
# the identities that no longer fit).
identity_format_changed = Hook("connectors.identity_format_changed")

# A connector is about to be deleted, inside the deleting transaction: ``receiver(connector=…)``.
# Devices lock their rows (a change in flight commits first), jobs discard their uploads and
# content its stored files once that commits.
connector_deleting = Hook("connectors.connector_deleting")

# A firmware package (a ``package_`` content item with valid metadata) was uploaded, new or
# replaced with different metadata, inside the transaction that saved it:
# ``receiver(connector=<Connector>, content_id=<str>, package=<the metadata document>)``.
# The portal tells the owners of the connector's devices about a newer version this way.
package_uploaded = Hook("connectors.package_uploaded")

# A page lists connectors and shows their devices' activity: ``receiver(connector_ids=<list>)``
# returns ``{connector_id: connectors.selectors.DeviceActivity}`` for those with devices, read
# in a constant number of queries. The devices app owns what a device's status is.
devices_activity = Hook("connectors.devices_activity")
