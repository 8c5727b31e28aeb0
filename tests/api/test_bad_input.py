"""Bad input over HTTP is a 4xx with a message, never a 500.

Walks every operation of the OpenAPI schema: every query parameter and path parameter it
declares gets NUL, "²", 1e999999999, a lone surrogate and very long values, and every
request body gets JSON the database cannot take, sent as the user the operation is for.
PostgreSQL (CI) refuses NUL in text where SQLite stores it: run there too.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from notifications.models import WebhookEndpoint
from operations import support, tickets
from operations.models import Ticket
from stations.models import ChargePoint
from tests.billing.sessions import charging_site, finished_session, token_of
from users.models import User

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
API = "/api/v1/"


def _raw(value: str) -> str:
    # As an attacker sends it: a lone surrogate as the bytes UTF-8 would give it (which
    # no UTF-8 decoder accepts), everything else percent-encoded.
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


BAD_VALUES = {
    "nul": "\x00",
    "text with nul": "CP-1\x00",
    "superscript two": "²",
    "huge exponent": "1e999999999",
    "tiny exponent": "1e-999999999",
    "lone surrogate": "\ud800",
    "not a number": "NaN",
    "negative": "-1",
    "5,000 digits": "9" * 5000,
    "long text": "x" * 20_000,
}

BAD_BODIES = {
    "number beyond a float": b'{"connector": 1e309}',
    "5,000 levels deep": b"[" * 5000 + b"]" * 5000,
    "33 levels deep": b'{"payload": ' + b"[" * 33 + b"]" * 33 + b"}",
    "NaN": b'{"connector": NaN}',
    "integer of 5,000 digits": b'{"connector": 1' + b"0" * 5000 + b"}",
    "NUL in a value": b'{"action": "DataTransfer", "payload": {"vendorId": "a\\u0000"}}',
    "NUL in a key": b'{"payload": {"\\u0000": 1}, "uid": "x"}',
    "lone surrogate": b'{"action": "DataTransfer", "payload": {"vendorId": "\\ud800"}}',
    "not UTF-8": b'{"name": "\xff"}',
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def public(self) -> bool:
        return {} in self.spec.get("security", [])

    def parameters(self, where: str) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == where]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


OPERATIONS = [
    Operation(method, path, spec)
    for path, item in SCHEMA["paths"].items()
    for method, spec in item.items()
    if method in {"get", "post", "put", "patch", "delete"}
]


def _cases(kind: str) -> list[Any]:
    return [pytest.param(op, id=str(op)) for op in OPERATIONS if _has(op, kind)]


def _has(operation: Operation, kind: str) -> bool:
    if kind == "body":
        return "requestBody" in operation.spec
    return bool(operation.parameters(kind))


@dataclass
class World:
    """Something behind every path: the driver's session and token, a charger, a user."""

    driver: User
    staff: User
    ids: dict[str, int]

    def client(self, operation: Operation) -> APIClient:
        client = APIClient()
        if operation.path.startswith(f"{API}me/"):
            client.force_authenticate(self.driver)
        elif not operation.public:
            client.force_authenticate(self.staff)
        return client

    def path(self, operation: Operation, raw_id: str | None = None) -> str:
        # The resource is what comes between /api/v1/ and /{id}/: "me/sessions", "tokens".
        resource = operation.path.removeprefix(API).split("/{", 1)[0]
        real_id = str(self.ids.get(resource, 1))
        return operation.path.replace("{id}", raw_id if raw_id is not None else real_id)


@pytest.fixture
def world(db: None) -> World:
    connector = charging_site("Bad input")
    ChargePoint.objects.filter(pk=connector.charge_point_id).update(
        registration_status=ChargePoint.Registration.ACCEPTED
    )
    # No passwords: hashing them would be most of the time these tests take.
    driver = User.objects.create(email="bad-input-driver@example.com")
    token = token_of(driver)
    session = finished_session(connector, token, started_at=datetime(2026, 1, 5, tzinfo=UTC), wh=1)
    staff = User.objects.create(
        email="bad-input-staff@example.com", is_staff=True, is_superuser=True
    )
    ids = {
        "stations": connector.charge_point.site_id,
        "connectors": connector.pk,
        "me/sessions": session.pk,
        "me/tokens": token.pk,
        "me/support-cases": support.report(driver, category="other", message="Case").pk,
        "charge-points": connector.charge_point_id,
        "sessions": session.pk,
        "tokens": token.pk,
        "users": driver.pk,
        "sites": connector.charge_point.site_id,
        "tickets": tickets.raise_fault(
            Ticket.Kind.OTHER, title="Bad input", charge_point=connector.charge_point
        )[0].pk,
        "webhooks": WebhookEndpoint.objects.create(
            owner=staff, url="https://hooks.example.com/chargehub", secret="s" * 32
        ).pk,
    }
    return World(driver=driver, staff=staff, ids=ids)


def answers_cleanly(response: Any) -> bool:
    """Not a 500, and a 4xx says what is wrong, in JSON."""
    if response.status_code >= 500:
        return False
    if response.status_code < 400:
        return True
    return response["Content-Type"].startswith("application/json") and bool(response.json())


def failures(responses: dict[str, Any], ok: Any = answers_cleanly) -> list[str]:
    return [
        f"{case}: {response.status_code} {response.content[:200]!r}"
        for case, response in responses.items()
        if not ok(response)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("operation", _cases("query"))
def test_a_bad_query_parameter_is_a_4xx_with_a_message(world, operation):
    client, path = world.client(operation), world.path(operation)
    responses = {
        f"?{name}={label}": getattr(client, operation.method)(f"{path}?{name}={_raw(value)}")
        for name in operation.parameters("query")
        for label, value in BAD_VALUES.items()
    }

    assert failures(responses) == []


@pytest.mark.django_db
@pytest.mark.parametrize("operation", _cases("path"))
def test_a_bad_path_parameter_is_a_4xx_with_a_message(world, operation):
    client = world.client(operation)
    responses = {
        label: getattr(client, operation.method)(
            world.path(operation, _raw(value)), {}, format="json"
        )
        for label, value in BAD_VALUES.items()
        if label != "long text"  # longer than a URL may be; the query carries it above
    }

    assert failures(responses, lambda r: r.status_code in (400, 404) and answers_cleanly(r)) == []


@pytest.mark.django_db
@pytest.mark.parametrize("operation", _cases("body"))
def test_a_body_the_database_cannot_take_is_a_400(world, operation):
    client, path = world.client(operation), world.path(operation)
    responses = {
        label: getattr(client, operation.method)(path, body, content_type="application/json")
        for label, body in BAD_BODIES.items()
    }

    assert (
        failures(
            responses,
            lambda r: r.status_code == 400 and answers_cleanly(r) and "detail" in r.json(),
        )
        == []
    )


def test_the_walk_covers_every_list_filter_and_body():
    """The cases above come from the schema: the filters reported to 500 are among them."""
    cases = {(str(op), name) for op in OPERATIONS for name in op.parameters("query")}

    assert {
        ("GET /api/v1/me/sessions/", "status"),
        ("GET /api/v1/stations/", "min_power"),
        ("GET /api/v1/charge-points/", "site"),
        ("GET /api/v1/charge-points/", "registration_status"),
        ("GET /api/v1/sessions/", "charge_point"),
        ("GET /api/v1/sessions/", "id_tag"),
        ("GET /api/v1/tokens/", "uid"),
        ("GET /api/v1/users/", "email"),
    } <= cases
    assert {"POST /api/v1/me/sessions/start/", "POST /api/v1/charge-points/{id}/commands/"} <= {
        str(op) for op in OPERATIONS if "requestBody" in op.spec
    }


@pytest.mark.django_db
def test_a_nul_in_a_parameter_name_is_refused(as_driver):
    response = as_driver.get("/api/v1/me/sessions/?%00=1")

    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


@pytest.mark.django_db
def test_a_form_body_is_not_read_by_the_api(as_driver, connector):
    response = as_driver.post(
        "/api/v1/me/sessions/start/", {"connector": connector.pk}, format="multipart"
    )

    assert response.status_code == 415


# --- Pages --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["connector_type", "min_power", "max_price", "available", "near"])
@pytest.mark.parametrize("value", [v for v in BAD_VALUES.values() if "\x00" not in v])
def test_a_bad_station_filter_in_the_portal_is_a_form_error_or_ignored(client, name, value):
    charging_site("Portal filter")

    response = client.get(f"/stations/?{name}={_raw(value)}")

    assert response.status_code == 200


@pytest.mark.django_db
def test_a_nul_in_a_page_filter_is_a_bad_request(client):
    response = client.get("/stations/?near=%00")

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/charge/%00/1/",
        "/charge/CP%00/1/",
        "/charge/%C2%B2/1/",
        "/charge/%ED%A0%80/1/",
        f"/charge/{'x' * 5000}/1/",
        "/charge/CP-1/99999999999999999999999/",
    ],
)
def test_a_guest_page_of_no_connector_is_not_found(client, path):
    charging_site("Guest page")

    assert client.get(path).status_code == 404


@pytest.mark.django_db
def test_a_nul_in_a_form_post_is_a_bad_request(client):
    response = client.post("/accounts/login/", {"login": "a\x00@example.com", "password": "x"})

    assert response.status_code == 400


@pytest.mark.django_db
def test_an_admin_search_for_a_nul_is_a_bad_request(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))

    response = client.get("/admin/stations/chargepoint/?q=%00")

    assert response.status_code == 400
