"""`manage.py run_stack`, what `make run` starts: the embedded stack comes up and goes down.

Run in a subprocess on its own var directory (SQLite, filesystem broker, embedded
channel layer), whatever database the rest of the suite uses.
"""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory):
    own = {"DATABASE_URL", "REDIS_URL", "CHARGEHUB_CHANNEL_LAYER"}
    env = {k: v for k, v in os.environ.items() if k not in own}
    env.update(
        CHARGEHUB_VAR_DIR=str(tmp_path_factory.mktemp("var")), DEBUG="1", PYTHONUNBUFFERED="1"
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def run_stack(env, port, log):
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(port), "--chargers", "0"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def health(port) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as response:
            return response.status
    except OSError:
        return None


def test_run_stack_serves_health_and_stops_cleanly_on_sigterm(embedded_env, tmp_path):
    port = free_port()
    log_path = tmp_path / "stack.log"
    with open(log_path, "wb") as log:
        stack = run_stack(embedded_env, port, log)
        try:
            wait_until(lambda: health(port) == 200, timeout=60, process=stack)
            assert health(port) == 200, log_path.read_text()
            # The banner tells where to go; the worker and the scheduler come up too.
            banner = ("Ctrl-C stops everything", " ready.", "beat: Starting")
            up = wait_until(
                lambda: all(text in log_path.read_text() for text in banner),
                timeout=60,
                process=stack,
            )
            assert up, log_path.read_text()
            assert stack.poll() is None, log_path.read_text()
        finally:
            stack.send_signal(signal.SIGTERM)
            code = stack.wait(60)

    output = log_path.read_text()
    assert code == 0, output
    assert f"http://127.0.0.1:{port}/admin/" in output
    assert f"ws://127.0.0.1:{port}/ocpp/" in output
    assert "web      | " in output and "worker   | " in output and "beat     | " in output
    assert health(port) is None  # the web server went down with it


def test_run_stack_exits_non_zero_when_a_child_dies(embedded_env, tmp_path):
    # The port is taken, so the web server cannot start and exits.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "run_stack", "--port", str(port), "--chargers", "0"],
            cwd=ROOT,
            env=embedded_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode != 0
    assert "web exited with code" in result.stderr
