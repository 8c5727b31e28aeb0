"""`serve --server` / OCPP_SERVER: which ASGI server runs (chargehub/servers.py).

What each server does for chargers is tested against both where the server takes part
(`each_server` in tests/conftest.py); here, choosing one and what uvicorn refuses."""

from tests.fresh_process import run_with


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
