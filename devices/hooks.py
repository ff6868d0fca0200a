"""What other apps may react to in the devices app (``core.hooks``; connect in ``AppConfig.ready``)."""

from core.hooks import KeyedHook

# A device wrote a value of a defined resource whose alias a receiver connected for: called as
# ``receiver(device=<Device>, value=<str>)`` after the write is stored, on the device API's
# path (keep it cheap). Firmware updates follow ``otau_in`` this way; claiming will follow its
# ``pdaas_*`` resources.
value_written = KeyedHook("devices.value_written")
