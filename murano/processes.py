"""Child processes of the one-command servers (``runplatform``, ``runtls``)."""

import signal
import subprocess
from collections.abc import Callable


def stop_children_on_signals(children: list[subprocess.Popen]) -> Callable[..., None]:
    """Make SIGTERM and SIGINT (Ctrl-C) stop ``children`` (those still running get SIGTERM);
    returns that stop function, for the command's own exit path too."""

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stop
