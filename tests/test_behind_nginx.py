"""The production shape behind nginx: README "Deployment"'s `location /` block, unchanged, in
front of two `serve` processes (two machines' worth: one daphne, one uvicorn, as a site
moving from one to the other), with the WebSocket upgrade.

Chargers connect through nginx, which spreads them over both servers; each boots and
gets a command sent from this process (as from a Celery worker), and page requests pass
too. Only the TLS lines are left out (tests/stations/test_security_profiles.py covers TLS
at a proxy). Skipped where nginx is not installed.
"""

import re
import shutil
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from chargehub.servers import SERVERS
from stations.ocpp import commands
from tests.conftest import ROOT
from tests.waiting import free_port, port_is_open, wait_until

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")


def documented_location() -> str:
    """The `location / { ... }` block of README's nginx configuration."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```nginx\n(.*?)```", readme, re.DOTALL)
    assert block, "README has no nginx configuration"
    location = re.search(r"^( *)location / \{\n.*?^\1\}", block.group(1), re.DOTALL | re.MULTILINE)
    assert location, "README's nginx configuration has no `location /` block"
    return location.group(0)


def nginx_configuration(folder: Path, port: int, backends: list[int]) -> str:
    servers = " ".join(f"server 127.0.0.1:{backend};" for backend in backends)
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    return f"""
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"};
events {{ worker_connections 256; }}
http {{
    access_log off;
    {temp} uwsgi_temp_path {folder / "uwsgi"}; scgi_temp_path {folder / "scgi"};
    upstream chargehub {{ {servers} }}
    server {{
        listen 127.0.0.1:{port};
        {documented_location()}
    }}
}}
"""


@pytest.fixture(scope="module")
def behind_nginx(start_server: Callable[..., str], tmp_path_factory: Any) -> Iterator[str]:
    """nginx with README's location block before daphne and uvicorn; its ws:// base URL."""
    backends = [int(start_server("--server", name).rsplit(":", 1)[1]) for name in SERVERS]
    folder = tmp_path_factory.mktemp("nginx")
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(nginx_configuration(folder, port, backends))
    nginx = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_until(lambda: port_is_open(port), timeout=20, process=nginx), (
            folder / "error.log"
        ).read_text()
        yield f"ws://127.0.0.1:{port}"
    finally:
        nginx.terminate()
        nginx.wait(10)


async def test_chargers_behind_the_documented_nginx_boot_and_get_commands(
    charger: Callable[..., Any], behind_nginx: str
):
    async with AsyncExitStack() as stack:
        # nginx takes turns: two chargers land on the two servers.
        for n in range(2):
            cp_id = f"NGINX-{n}"
            cp = await stack.enter_async_context(charger(cp_id, server=behind_nginx))
            assert (await cp.boot()).status == "Accepted"
            answer = await commands.send(cp_id, call.ClearCache(), timeout=10)
            assert answer == call_result.ClearCache(status="Accepted")
            assert (await cp.call(call.Heartbeat())).current_time


def test_pages_pass_the_documented_nginx(behind_nginx: str):
    health = behind_nginx.replace("ws://", "http://") + "/health/"
    for _ in SERVERS:  # nginx takes turns: one request to each
        with urllib.request.urlopen(health, timeout=10) as response:
            assert response.status == 200
