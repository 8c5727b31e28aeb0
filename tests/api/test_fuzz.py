"""The whole API fuzzed from its own OpenAPI schema (schemathesis, in-process over WSGI).

Every operation gets a bounded, derandomized set of generated requests, valid and invalid,
as a driver (their own things, the public ones) or as staff (the rest), with token auth.
No answer may be an undocumented 5xx (a command to the offline test charger is the 502 the
schema promises), and every answer must match the schema. Detail paths name real objects,
so that the fuzzed query and body meet the code behind them, not a 404.
"""

from datetime import UTC, datetime

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from operations import support, tickets
from operations.models import Ticket
from stations.models import ChargePoint
from tests.billing.sessions import charging_site, finished_session, token_of
from users import api_tokens
from users.models import User

API = "/api/v1/"

# The examples and fuzzing phases, bounded by max_examples below; the coverage phase is
# not (it sends every boundary value of every parameter: minutes, not seconds).
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})

# Plain HTTP as in the test settings (tests/conftest.py): the security middleware reads
# SECURE_SSL_REDIRECT once, when the handler is made, here at import.
with override_settings(SECURE_SSL_REDIRECT=False):
    app = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, config=CONFIG)


@schemathesis.check
def no_undocumented_server_error(ctx, response, case) -> None:
    documented = case.operation.definition.raw.get("responses", {})
    if response.status_code >= 500 and str(response.status_code) not in documented:
        raise AssertionError(f"{response.status_code}: {response.text[:500]}")


@pytest.fixture
def fuzz_world(db_access, settings) -> dict:
    """A driver with a token and a session at a public connector; a superuser, and what
    staff may change or delete without taking the driver's things away (a user, a token, a
    charger of their own). No throttling: a fuzz run is many requests a minute.
    Committed (db_access): Django's WSGI handler closes the connection after each request,
    and commands.send() closes it too (channels' database_sync_to_async)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None},
    }
    connector = charging_site("Fuzz")
    ChargePoint.objects.filter(pk=connector.charge_point_id).update(
        registration_status=ChargePoint.Registration.ACCEPTED
    )
    # No passwords: token auth needs none, and hashing is slow.
    driver = User.objects.create(email="fuzz-driver@example.com")
    staff = User.objects.create(email="fuzz-staff@example.com", is_staff=True, is_superuser=True)
    other = User.objects.create(email="fuzz-other@example.com")
    token = token_of(driver)
    session = finished_session(connector, token, started_at=datetime(2026, 1, 5, tzinfo=UTC), wh=1)
    # Offline: a command to it is refused at once (ChargerOffline), not waited for.
    other_charger = ChargePoint.objects.create(charge_point_id="FUZZ-STAFF")
    ticket, _ = tickets.raise_fault(Ticket.Kind.OFFLINE, title="fuzz", charge_point=other_charger)
    world = {
        "driver": api_tokens.issue(driver)[1],
        "staff": api_tokens.issue(staff)[1],
        "ids": {
            "stations": connector.charge_point.site_id,
            "connectors": connector.pk,
            "me/sessions": session.pk,
            "me/tokens": token.pk,
            "charge-points": other_charger.pk,
            "sessions": session.pk,
            "me/support-cases": support.report(driver, category="other", message="Fuzz").pk,
            "tokens": token_of(other).pk,
            "users": other.pk,
            "sites": connector.charge_point.site_id,
            "tickets": ticket.pk,
        },
    }
    return world


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_generated_requests_as_its_schema_says(case, fuzz_world):
    path = case.operation.path
    resource = path.removeprefix(API).split("/{", 1)[0]
    if "id" in (case.path_parameters or {}) and resource in fuzz_world["ids"]:
        case.path_parameters["id"] = fuzz_world["ids"][resource]
    who = (
        "driver"
        if path.startswith(f"{API}me/") or resource in {"stations", "connectors"}
        else "staff"
    )

    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_world[who]}"},
        checks=[
            no_undocumented_server_error,
            response_schema_conformance,
            content_type_conformance,
        ],
    )
