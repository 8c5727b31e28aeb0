"""Settings read in a fresh Python process, started with an environment as a deployment
starts: chargehub/settings.py reads the environment once, at import, so what it makes of
an environment (or refuses in it) is seen only in a process of its own."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What the test run itself may set, which a deployment would not.
NOT_INHERITED = {
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "TRUSTED_PROXY_COUNT",
    "DATABASE_PREPARE_THRESHOLD",
}


def run_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python *args` in the project, with `env` over the test run's environment."""
    clean = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_code(expression: str) -> str:
    """Code that prints `expression` (over `settings`, unconfigured apps) as JSON."""
    return (
        "import json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'chargehub.settings');"
        f"from django.conf import settings; print(json.dumps({expression}))"
    )


def printed(env: dict[str, str], code: str) -> Any:
    """What `code` prints as JSON in a process started with `env` (which must succeed)."""
    result = run_with(env, "-c", code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
