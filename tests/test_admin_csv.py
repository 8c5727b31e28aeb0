"""Export as CSV (chargehub/admin_csv.py) on the admin lists staff export most."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from billing.models import WalletEntry
from stations.models import ChargePoint, ChargerCommand
from tests.billing.sessions import charging_site, finished_session, token_of

pytestmark = pytest.mark.django_db

EXPORTING_LISTS = [
    "stations_chargingsession",
    "stations_chargepoint",
    "stations_chargercommand",
    "billing_invoice",
    "billing_sessioncharge",
    "billing_walletentry",
]


def export(client, admin_name: str, *, selected=(), select_across=False, query=""):
    url = reverse(f"admin:{admin_name}_changelist") + query
    data = {
        "action": "export_csv",
        "index": "0",
        helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in selected],
    }
    if select_across:
        data["select_across"] = "1"
    response = client.post(url, data)
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("admin_name", EXPORTING_LISTS)
def test_every_list_staff_export_offers_csv(admin_client, admin_name):
    page = admin_client.get(reverse(f"admin:{admin_name}_changelist"))
    assert "export_csv" in page.context["cl"].model_admin.get_actions(page.wsgi_request)


def test_selected_sessions_are_exported_with_times_in_utc(admin_client, driver):
    connector = charging_site()
    token = token_of(driver)
    started = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)
    session = finished_session(connector, token, started_at=started, wh=12_500)
    finished_session(connector, token, started_at=datetime(2026, 11, 4, tzinfo=UTC), wh=1)

    rows = export(admin_client, "stations_chargingsession", selected=[session.pk])

    header, *body = rows
    assert len(body) == 1
    record = dict(zip(header, body[0], strict=True))
    assert record["ID"] == str(session.pk)
    assert record["Started at"] == "2026-11-03T17:00:00+00:00"
    assert record["Energy (Wh)"] == "12500"


def test_select_all_exports_the_filtered_list_only(admin_client):
    for charge_point_id, status in [
        ("CSV-1", "Accepted"),
        ("CSV-2", "Pending"),
        ("CSV-3", "Accepted"),
    ]:
        ChargePoint.objects.create(charge_point_id=charge_point_id, registration_status=status)

    # Admin's "select all N" sends the rows on the page and select_across.
    rows = export(
        admin_client,
        "stations_chargepoint",
        selected=[ChargePoint.objects.get(charge_point_id="CSV-1").pk],
        select_across=True,
        query="?registration_status__exact=Accepted",
    )

    assert [row[0] for row in rows[1:]] == ["CSV-1", "CSV-3"]


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(admin_client, driver):
    entry = WalletEntry.objects.create(
        user=driver,
        kind=WalletEntry.Kind.DEBIT,
        amount=Decimal("-5.00"),
        reference="=HYPERLINK(1)",
    )
    header, row = export(admin_client, "billing_walletentry", selected=[entry.pk])
    record = dict(zip(header, row, strict=True))
    assert record["Reference"] == "'=HYPERLINK(1)"
    assert record["Amount (SEK)"] == "-5.00"  # a negative number stays a number


def test_staff_who_may_not_view_a_list_cannot_export_it(make_user, client):
    command = ChargerCommand.objects.create(
        charge_point=ChargePoint.objects.create(charge_point_id="CSV-CMD"), action="Reset"
    )
    staff = make_user("stations.view_chargepoint", is_staff=True)
    client.force_login(staff)
    response = client.post(
        reverse("admin:stations_chargercommand_changelist"),
        {"action": "export_csv", "index": "0", helpers.ACTION_CHECKBOX_NAME: [command.pk]},
    )
    assert response.status_code == 403
