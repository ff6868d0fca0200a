"""Child processes of the one-command servers (``runplatform``, ``runtls``)."""

import os
import signal
import subprocess
import time
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


class Supervisor:
    """Keeps the platform's helper processes running beside its main one (``runplatform``).

    Each helper is started by a function returning its process; one that exits while the
    platform runs is started again (a worker killed by the OOM killer, or by hand), unless it
    keeps exiting: ``max_restarts`` within a minute stops the platform. The main process's exit
    stops everything. Helpers are stopped in the reverse order of their start (the embedded
    Redis, started first, stops last: the others may still push while they stop).
    """

    def __init__(self, *, max_restarts: int = 5, log: Callable[[str], None] = print):
        self.helpers: list[tuple[str, Callable[[], subprocess.Popen], subprocess.Popen]] = []
        self.restarts: dict[str, list[float]] = {}
        self.max_restarts = max_restarts
        self.log = log
        self.stopping = False

    def start(self, name: str, starter: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        process = starter()
        self.helpers.append((name, starter, process))
        return process

    def run(self, main: subprocess.Popen, *, poll_interval: float = 0.5) -> int:
        """Wait for ``main`` to exit (or a stop signal), keeping the helpers up; its exit code."""

        def request_stop(*_):
            self.stopping = True
            if main.poll() is None:
                main.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        try:
            while True:
                try:
                    code = main.wait(poll_interval)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if not self.stopping and not self._restart_exited():
                    request_stop()
        finally:
            self.stop()
        return code

    @staticmethod
    def _end_group(process: subprocess.Popen) -> None:
        """Kill what is left of a helper's process group (a helper started in a session of its
        own: ``start_new_session=True``). A worker killed with SIGKILL (the OOM killer) leaves
        its children — Celery's embedded beat among them — running without it; a worker started
        again beside them would make two beats, each sending every periodic task."""
        try:
            if os.getpgid(process.pid) != process.pid:
                return  # not a group leader of its own: its group is ours
        except ProcessLookupError:
            pass  # the leader is gone (reaped); its group may still have members
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _restart_exited(self) -> bool:
        """Start again the helpers that exited; False when one keeps exiting."""
        for index, (name, starter, process) in enumerate(self.helpers):
            if process.poll() is None:
                continue
            self._end_group(process)
            now = time.monotonic()
            recent = [t for t in self.restarts.get(name, []) if now - t < 60] + [now]
            self.restarts[name] = recent
            if len(recent) > self.max_restarts:
                self.log(f"{name} keeps stopping (code {process.returncode}); stopping the platform")
                return False
            self.log(f"{name} stopped (code {process.returncode}); starting it again")
            try:
                self.helpers[index] = (name, starter, starter())
            except (OSError, RuntimeError) as error:
                self.log(f"{name} could not start again ({error}); stopping the platform")
                return False
        return True

    def stop(self, timeout: float = 15) -> None:
        self.stopping = True
        for _name, _starter, process in reversed(self.helpers):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self._end_group(process)
