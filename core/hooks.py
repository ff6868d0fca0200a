"""Extension points: a service announces what happened, and other apps react, without the
service importing them.

A hook belongs to the app whose service owns the event (``devices.hooks.value_written``,
``connectors.hooks.settings_changed``). Apps connect their receivers in ``AppConfig.ready()``,
so every process (web, Daphne, Celery) has the same receivers and nothing depends on import
order. Receivers run synchronously, in the order they were connected, inside the caller's
transaction: a receiver that raises fails the change (it is part of the rule), so receivers
that do slow or remote work queue a task on commit instead.

Not Django signals: a hook is named once, documents its arguments, and has no sender filtering
or weak references to get wrong (a receiver that is garbage collected silently stops running).
"""

from collections.abc import Callable


class Hook:
    """An event other apps may react to; ``send(**kwargs)`` calls every receiver with them and
    returns what they returned, in order."""

    def __init__(self, name: str):
        self.name = name
        self.receivers: list[Callable] = []

    def connect(self, receiver: Callable) -> Callable:
        """Add ``receiver`` (once; usable as a decorator)."""
        if receiver not in self.receivers:
            self.receivers.append(receiver)
        return receiver

    def send(self, **kwargs) -> list:
        return [receiver(**kwargs) for receiver in self.receivers]

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self.receivers)} receivers>"


class KeyedHook:
    """An event whose receivers each care about one key (a resource alias): asking whether any
    receiver cares is a set lookup, so a hook on a hot path (every device write) costs nothing
    for the keys nobody connected."""

    def __init__(self, name: str):
        self.name = name
        self.receivers: dict[str, list[Callable]] = {}
        self.keys: frozenset[str] = frozenset()

    def connect(self, key: str, receiver: Callable) -> Callable:
        """Call ``receiver`` for ``key`` (once)."""
        receivers = self.receivers.setdefault(key, [])
        if receiver not in receivers:
            receivers.append(receiver)
        self.keys = frozenset(self.receivers)
        return receiver

    def send(self, key: str, **kwargs) -> list:
        return [receiver(**kwargs) for receiver in self.receivers.get(key, ())]

    def __repr__(self) -> str:
        return f"<KeyedHook {self.name}: {sorted(self.keys)}>"
