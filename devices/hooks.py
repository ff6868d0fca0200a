"""What other apps may react to in the devices app (``core.hooks``; connect in ``AppConfig.ready``)."""

from core.hooks import Hook, KeyedHook

# A device wrote a value of a defined resource whose alias a receiver connected for: called as
# ``receiver(device=<Device>, value=<str>)`` after the write is stored, on the device API's
# path (keep it cheap). Firmware updates follow ``otau_in`` this way; claiming will follow its
# ``pdaas_*`` resources.
value_written = KeyedHook("devices.value_written")

# Devices were added to a connector, inside the transaction that creates them:
# ``receiver(connector=<Connector>, devices=[<Device>, …])``. Sent by whitelisting, by a CSV
# import (once per batch of new rows) and by the first provisioning of a presented identity (not
# by the provisioning of a device already whitelisted). Claiming gives them a default claim code.
devices_added = Hook("devices.devices_added")

# What a person typed to find devices by one tag's value, turned into the value stored:
# ``receiver(connector=<Connector>, text=<str>)`` returns it, or None when it means nothing to
# the receiver. Claiming turns an owner's e-mail into their end-user id (the ``users`` tag).
tag_value_typed = KeyedHook("devices.tag_value_typed")
