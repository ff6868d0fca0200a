"""``manage.py runmqtt``: what ``make run`` and an operator see when a port is taken."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, *args, **environment) -> subprocess.Popen:
    env = {**os.environ, "MURANO_VAR_DIR": str(tmp_path), **environment}
    return subprocess.Popen(
        [sys.executable, "manage.py", "runmqtt", "--port", "0", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


class Lines:
    """What a process writes on one of its pipes, read by a thread as it comes."""

    def __init__(self, stream):
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.text += line

    def wait_for(self, expected: str, timeout: float = 60) -> bool:
        """Whether ``expected`` was written within ``timeout`` seconds (start-up takes a while
        on a busy machine: no fixed sleep)."""
        deadline = time.monotonic() + timeout
        while expected not in self.text and time.monotonic() < deadline:
            time.sleep(0.05)
        return expected in self.text

    def rest(self) -> str:
        self._thread.join(timeout=20)
        return self.text


def taken_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_a_taken_port_is_skipped_with_a_message_under_make_run(tmp_path):
    with taken_port() as holder:
        taken = holder.getsockname()[1]
        # The TLS port is off here (0); the plain one is taken.
        process = run(tmp_path, "--plain-port", str(taken), "--skip-taken-ports")
        err = Lines(process.stderr)
        assert err.wait_for("no MQTT listener"), err.text
        time.sleep(1)
        assert process.poll() is None  # goes on (runplatform would otherwise restart it)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert f"127.0.0.1:{taken} is already in use" in err.rest()


def test_a_taken_port_is_an_error_for_an_operator(tmp_path):
    with taken_port() as holder:
        process = run(tmp_path, "--plain-port", str(holder.getsockname()[1]))
        out, err = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "cannot listen" in err


def test_with_mqtt_reuse_port_several_processes_share_the_ports(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = run(tmp_path, "--plain-port", str(port), MQTT_REUSE_PORT="true")
    second = run(tmp_path, "--plain-port", str(port), MQTT_REUSE_PORT="true")
    outputs = [Lines(process.stdout) for process in (first, second)]
    listening = [out.wait_for(f"MQTT (plain TCP) on 127.0.0.1:{port}") for out in outputs]
    for process in (first, second):
        assert process.poll() is None  # both hold the port
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert listening == [True, True], [out.rest() for out in outputs]
