"""`serve --server` / OCPP_SERVER: which ASGI server runs (chargehub/servers.py).

What each server does for chargers is tested against both where the server takes part
(`each_server` in tests/conftest.py); here, choosing one and what uvicorn refuses."""

import asyncio
import threading

from chargehub.servers import UvicornServer, uvicorn_config
from tests.fresh_process import run_with
from tests.waiting import eventually


def test_uvicorn_refuses_to_serve_tls_itself_and_says_where_tls_is_served():
    result = run_with(
        {"DEBUG": "1"}, "manage.py", "serve", "--server", "uvicorn", "--tls-port", "8443"
    )

    assert result.returncode != 0
    assert "serve TLS with daphne or terminate it at nginx" in result.stderr


def test_ocpp_server_setting_chooses_the_server():
    result = run_with(
        {"DEBUG": "1", "OCPP_SERVER": "uvicorn"}, "manage.py", "serve", "--tls-port", "8443"
    )

    assert result.returncode != 0
    assert "--server uvicorn cannot serve --tls-port" in result.stderr


def test_an_unknown_ocpp_server_stops_start_up_saying_what_it_takes():
    result = run_with({"DEBUG": "1", "OCPP_SERVER": "gunicorn"}, "manage.py", "check")

    assert result.returncode != 0
    assert "OCPP_SERVER must be daphne or uvicorn, not 'gunicorn'" in result.stderr


def test_uvicorn_sizes_the_database_threads_by_asgi_threads_as_daphne_does(monkeypatch):
    monkeypatch.setenv("ASGI_THREADS", "3")
    running = 0
    most = 0
    changed = threading.Condition()

    def database_call():
        nonlocal running, most
        with changed:
            running += 1
            most = max(most, running)
            changed.notify_all()
            # Four at once only if the pool has four threads; three give up after a while.
            changed.wait_for(lambda: running >= 4, timeout=0.3)
            running -= 1

    async def serve_and_call():
        server = UvicornServer(uvicorn_config("127.0.0.1", 0, access_log=False))
        serving = asyncio.create_task(server.serve())
        assert await eventually(lambda: server.started, timeout=30)
        try:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(None, database_call) for _ in range(4)))
        finally:
            server.should_exit = True
            await serving

    asyncio.run(serve_and_call())

    assert most == 3
