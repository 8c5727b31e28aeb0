"""The dashboards in admin as staff meet them: each role sees its pages, every table
behind a chart is a CSV, bad filters are a form error."""

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import CustomerGroup
from insights import rollup
from stations.models import Connector
from tests.insights.small_history import driver, local, session, site

pytestmark = pytest.mark.django_db
WEEK = {"start": "2026-03-02", "end": "2026-03-08"}


@pytest.fixture
def staff(make_user):
    call_command("setup_roles", stdout=io.StringIO())

    def login(role: str) -> Client:
        user = make_user(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def week():
    _place, a, b = site()
    session(a, local(2026, 3, 2, 8, 0), 120, "11", 60, "card", "50.00")
    session(b, local(2026, 3, 4, 17, 0), 60, "22", 60, "invoice", "100.00")
    rollup.roll_up()


def test_finance_sees_revenue_and_a_technician_does_not(staff, week):
    finance, technician = staff("Finance"), staff("Technician")
    page = finance.get("/admin/insights/dashboard/revenue/", WEEK)
    assert page.status_code == 200
    assert "Revenue per payment method" in page.content.decode()
    assert "Totals include the no-show fees of bookings" in page.content.decode()
    assert technician.get("/admin/insights/dashboard/revenue/", WEEK).status_code == 403
    assert technician.get("/admin/insights/dashboard/utilisation/", WEEK).status_code == 200
    assert technician.get("/admin/insights/dashboard/").url.endswith("/utilisation/")
    assert staff("Support").get("/admin/insights/dashboard/drivers/").status_code == 403


@pytest.mark.parametrize("page", ["utilisation", "chargers", "patterns", "revenue", "drivers"])
def test_every_page_renders_and_every_table_is_a_csv(staff, week, page):
    admin = staff("Operator admin")
    response = admin.get(f"/admin/insights/dashboard/{page}/", WEEK)
    assert response.status_code == 200
    tables = response.context["tables"]
    assert tables
    for table, csv_url, _heat in tables:
        download = admin.get(csv_url)
        assert download.status_code == 200
        rows = list(csv.reader(io.StringIO(download.content.decode())))
        assert rows[0] == [str(column) for column in table.columns]
        assert len(rows) == len(table.rows) + 1


def test_the_revenue_csv_holds_the_figures(staff, week):
    download = staff("Finance").get("/admin/insights/dashboard/revenue/csv/revenue_method/", WEEK)
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert ["Card on file", "50.00", "40.00", "1", "0.00", "4.55"] in rows
    assert ["Monthly invoice", "100.00", "80.00", "1", "0.00", "4.55"] in rows


def test_the_revenue_per_customer_group_and_month_is_a_csv(staff):
    _place, a, b = site()
    plan = CustomerGroup.objects.create(name="Plus", kind=CustomerGroup.Kind.PLAN)
    subscriber = driver("bo@example.com", local(2026, 1, 5, 12, 0))
    plan.members.add(subscriber.owner)
    session(a, local(2026, 2, 27, 8, 0), 60, "10", 60, "card", "30.00", subscriber)
    session(b, local(2026, 3, 2, 8, 0), 60, "10", 60, "card", "25.00", subscriber)
    session(a, local(2026, 3, 3, 8, 0), 60, "10", 60, "guest", "50.00")
    rollup.roll_up()
    download = staff("Finance").get(
        "/admin/insights/dashboard/revenue/csv/revenue_group_month/",
        {"start": "2026-02-01", "end": "2026-03-31"},
    )
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows == [
        ["Month", "Customer group", "Kind", "Total incl. VAT (SEK)", "Net (SEK)", "Sessions",
         "Of which no-show fees (SEK)", "Paid per kWh (SEK)"],
        ["2026-02", "Plus", "Subscription plan", "30.00", "24.00", "1", "0.00", "3.00"],
        ["2026-03", "Guests paying at the charger", "Guests paying at the charger", "50.00",
         "40.00", "1", "0.00", "5.00"],
        ["2026-03", "Plus", "Subscription plan", "25.00", "20.00", "1", "0.00", "2.50"],
    ]  # fmt: skip


def test_bad_filters_are_a_form_error_not_a_crash(staff, week):
    admin = staff("Operator admin")
    response = admin.get(
        "/admin/insights/dashboard/utilisation/", {"start": "2026-03-09", "end": "2026-03-01"}
    )
    assert response.status_code == 200
    assert "The first day must come before the last." in response.content.decode()
    assert (
        admin.get(
            "/admin/insights/dashboard/utilisation/", {"start": "yesterday", "site": "x"}
        ).status_code
        == 200
    )
    assert admin.get("/admin/insights/dashboard/nothing/").status_code == 404
    assert admin.get("/admin/insights/dashboard/revenue/csv/nothing/").status_code == 404


@pytest.mark.parametrize("page", ["utilisation", "chargers", "patterns"])
def test_the_use_pages_read_summaries_so_their_queries_do_not_grow_with_sessions(staff, week, page):
    admin = staff("Operator admin")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(f"/admin/insights/dashboard/{page}/", WEEK).status_code == 200
        return len(captured)

    before = queries()
    for connector in Connector.objects.all():
        for day in (3, 5, 6):
            session(connector, local(2026, 3, day, 12, 0), 45, "9", 45, "card", "30.00")
    rollup.roll_up()
    assert queries() == before
