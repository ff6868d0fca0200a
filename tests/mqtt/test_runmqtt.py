"""``manage.py runmqtt``: what ``make run`` and an operator see when a port is taken."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, *args, **environment) -> subprocess.Popen:
    env = {**os.environ, "MURANO_VAR_DIR": str(tmp_path), **environment}
    return subprocess.Popen(
        [sys.executable, "manage.py", "runmqtt", "--port", "0", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


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
        time.sleep(3)
        assert process.poll() is None  # goes on (runplatform would otherwise restart it)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert f"127.0.0.1:{taken} is already in use" in err
    assert "no MQTT listener" in err


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
    time.sleep(3)
    for process in (first, second):
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
    outputs = [process.communicate(timeout=20)[0] for process in (first, second)]
    assert all(f"MQTT (plain TCP) on 127.0.0.1:{port}" in out for out in outputs)
