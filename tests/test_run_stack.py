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


def run_stack(env, port, log, *options: str, chargers: int = 0):
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_stack",
            "--port",
            str(port),
            "--chargers",
            str(chargers),
            *options,
        ],
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
        stack = run_stack(embedded_env, port, log, "--verbose")
        try:
            wait_until(lambda: health(port) == 200, timeout=60, process=stack)
            assert health(port) == 200, log_path.read_text()
            # The banner tells where to go; the worker and the scheduler come up too, and
            # --verbose shows their INFO lines and each request.
            banner = ("Ctrl-C stops everything", " ready.", "beat: Starting", "GET /health/")
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


def test_run_stack_is_quiet_and_shows_its_banner_again(embedded_env, tmp_path):
    """No line per request, no Celery INFO, no OCPP frames from the simulated charger;
    the banner once up, again once the charger is connected and on Ctrl-\\ (SIGQUIT);
    mail goes to files in the var directory's mail/ folder, which the banner names."""
    port = free_port()
    log_path = tmp_path / "quiet.log"
    mail_folder = Path(embedded_env["CHARGEHUB_VAR_DIR"]) / "mail"
    # The simulated charger is DEMO-001 of load_demo, with its password.
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "register_charger",
            "DEMO-001",
            "--password",
            "chargehub-demo-charger",
            "--site",
            "Quiet",
            "--create-site",
        ],
        cwd=ROOT,
        env=embedded_env,
        check=True,
        capture_output=True,
    )
    with open(log_path, "wb") as log:
        stack = run_stack(embedded_env, port, log, chargers=1)
        try:
            connected = "the simulated chargers are connected"
            up = wait_until(lambda: connected in log_path.read_text(), timeout=120, process=stack)
            assert up, log_path.read_text()
            assert health(port) == 200
            banners = log_path.read_text().count("Ctrl-C stops everything")
            stack.send_signal(signal.SIGQUIT)
            again = wait_until(
                lambda: log_path.read_text().count("Ctrl-C stops everything") == banners + 1,
                timeout=30,
                process=stack,
            )
            assert again, log_path.read_text()
        finally:
            stack.send_signal(signal.SIGTERM)
            code = stack.wait(60)

    output = log_path.read_text()
    assert code == 0, output
    assert f"Mail:   {mail_folder}/" in output
    assert "GET /health/" not in output  # no access log
    assert " ready." not in output and "beat: Starting" not in output  # Celery at warning
    assert "BootNotification" not in output  # the ocpp library's frames at WARNING
    assert "Stopped." in output


def test_make_info_prints_the_banner_and_exits(embedded_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "run_stack", "--info", "--port", "8123"],
        cwd=ROOT,
        env={**embedded_env, "EMAIL_FILE_PATH": "/srv/chargehub/mail"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "http://127.0.0.1:8123/admin/" in result.stdout
    assert "admin@example.com" in result.stdout  # the demo login, under DEBUG
    assert "Simulated chargers: DEMO-001 … DEMO-003" in result.stdout
    assert "Mail:   /srv/chargehub/mail/" in result.stdout
    assert "Ctrl-C" not in result.stdout  # nothing runs
