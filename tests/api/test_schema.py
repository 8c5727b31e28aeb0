"""The OpenAPI 3 schema is valid and complete; the docs are served."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_without_warnings(tmp_path):
    path = tmp_path / "schema.yaml"

    # --fail-on-warn turns every warning (an untyped parameter, an enum clash) into an
    # error; --validate checks the result against the OpenAPI 3 specification.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(path), stderr=StringIO()
    )

    schema = yaml.safe_load(path.read_text())
    assert schema["info"]["title"] == "ChargeHub API"
    assert {
        "/api/v1/stations/",
        "/api/v1/connectors/{id}/price/",
        "/api/v1/me/sessions/start/",
        "/api/v1/me/sessions/{id}/stop/",
        "/api/v1/me/invoices/{id}/pdf/",
        "/api/v1/me/wallet/",
        "/api/v1/charge-points/{id}/commands/",
        "/api/v1/users/",
    } <= set(schema["paths"])
    # Public endpoints say so: no credentials needed.
    assert {} in schema["paths"]["/api/v1/stations/"]["get"]["security"]
    assert {} not in schema["paths"]["/api/v1/me/wallet/"]["get"]["security"]


def test_schema_and_docs_are_served(anonymous):
    schema = anonymous.get("/api/schema/")
    docs = anonymous.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/stations/" in schema.content
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
