"""Helpers for the suites that run the platform as real processes (tests/browser, tests/e2e,
tests/pki/test_nginx_tls.py): a database of their own, a free port, a Daphne server, waiting for a
process to come up and stopping it."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def own_database(env: dict, prefix: str, sqlite_path: Path) -> Iterator[None]:
    """Gives the processes started with ``env`` a database of their own for the block: on the
    PostgreSQL stack (``DATABASE_URL`` set) a new database ``<prefix>_<random>`` on the same server,
    dropped afterwards; on the embedded stack the SQLite file ``sqlite_path``."""
    outer_url = os.environ.get("DATABASE_URL")
    if not outer_url:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(sqlite_path)
        yield
        return
    server = outer_url.rsplit("/", 1)[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = f"{server}/{name}"
    try:
        yield
    finally:
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_and_create_admin(env: dict, email: str, password: str, business: str) -> None:
    """Migrates the database of ``env`` and creates the admin ``email`` of ``business`` in it."""
    subprocess.run([*MANAGE, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*MANAGE, "create_account", "--email", email, "--password", password, "--business", business,
         "--role", "admin"],
        env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def start_daphne(env: dict, log: Path, port: int | None = None) -> tuple[str, subprocess.Popen]:
    """A Daphne process serving the ASGI application on ``port`` (a free one by default):
    ``(base URL, process)``. Its output goes to the file ``log``, not a pipe: nobody reads it
    while tests run, and a full pipe would block the server."""
    port = port or free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "murano.asgi:application"],
            env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return f"http://127.0.0.1:{port}", process


def wait_for(
    check: Callable[[], bool], what: str, process: subprocess.Popen, *, log: Path | None = None,
    timeout: float = 30,
) -> None:  # fmt: skip
    """Waits until ``check()`` is true (an ``OSError`` or ``httpx.HTTPError`` counts as false);
    raises if ``process`` exits first or ``timeout`` seconds pass, with the end of ``log``."""

    def tail() -> str:
        return f": {log.read_text(errors='replace')[-3000:]}" if log is not None else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}{tail()}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up{tail()}")


def wait_until_up(url: str, process: subprocess.Popen, log: Path | None = None, timeout: float = 30) -> None:
    """Waits until ``url`` answers 200 (see ``wait_for``)."""
    wait_for(lambda: httpx.get(url, timeout=1).status_code == 200, url, process, log=log, timeout=timeout)


def stop(*processes: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Sends ``sig`` to every process, then waits for each; one still running 10 s later is
    killed."""
    for process in processes:
        process.send_signal(sig)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def eventually(check: Callable[[], object], what: str, timeout: float = 45, every: float = 0.05):
    """``check()``'s first true value, polled until ``timeout`` seconds; fails saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def subscribed_channels(redis_url: str, pattern: str) -> set[bytes]:
    """The pub/sub channels matching ``pattern`` that Redis (at ``redis_url``) holds a
    subscriber on now: a server's wake subscription counts once it is here, not when sent."""
    import redis

    with redis.Redis.from_url(redis_url, socket_connect_timeout=1) as client:
        return set(client.pubsub_channels(pattern))


def wake_channels(env: dict) -> str:
    """The pattern of the device wake channels of the servers started with ``env``."""
    return f"{env.get('CHANNEL_PREFIX', 'murano')}__group__device_wake.*"


class ThrowawayRedis:
    """A Redis of a test's own on a free port of 127.0.0.1, without persistence, that the test
    may kill and start again on the same port. It is the redis-server binary the platform ships
    for its embedded default (murano/embedded_redis.py), so it is there wherever the tests run."""

    def __init__(self, var_dir: Path):
        self.var_dir, self.port = var_dir, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from murano import embedded_redis

        self.process = subprocess.Popen(
            [embedded_redis.executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.var_dir), "--logfile", str(self.var_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(self.answers, "the throwaway Redis", self.process, log=self.var_dir / "redis.log")

    def answers(self) -> bool:
        import redis

        try:
            with redis.Redis.from_url(self.url, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(timeout=10)
