"""The stored summary (figures.refresh), MTTR and MTBF, the admin's uptime report with
its charts, the outage list, the CSV exports and excluding an outage in admin."""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.test import Client

from operations import figures, tasks, uptime
from operations.models import OutageExclusion, OutagePeriod, UptimeMonth
from stations.models import Site
from tests.operations.uptime_history import charger, commissioned, local, status, went
from tests.page_assets import asset_urls, fetch

MAY = date(2026, 5, 1)
AFTER = datetime(2027, 1, 1, tzinfo=local(2026, 1, 1).tzinfo)
REPORT = "/admin/operations/uptimemonth/"


@pytest.fixture(autouse=True)
def fresh_cache():
    """The report's figures are cached under the summary's newest row id, and a rolled
    back test can leave the next one the same ids."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def network(db):
    """May 2026 at one site: CP-A (ABB Terra 54) port 1 faulted 150 min, then unavailable
    60 min; an outage from April running into May on port 2 (3 h into May); CP-B (Zaptec
    Go) offline 30 min."""
    site = Site.objects.create(name="Kista")
    a = charger("CP-A", ports=2, site=site)
    b = charger("CP-B", ports=1, site=site)
    a.vendor, a.model = "ABB", "Terra 54"
    a.save()
    b.vendor, b.model = "Zaptec", "Go"
    b.save()
    for cp in (a, b):
        commissioned(cp, local(2026, 4, 1, 0, 0))
    status(a, 1, local(2026, 5, 10, 10, 0), "Faulted", "GroundFailure")
    status(a, 1, local(2026, 5, 10, 12, 30), "Available")
    status(a, 1, local(2026, 5, 20, 8, 0), "Unavailable")
    status(a, 1, local(2026, 5, 20, 9, 0), "Available")
    status(a, 2, local(2026, 4, 30, 23, 0), "Faulted", "OverVoltage")
    status(a, 2, local(2026, 5, 1, 3, 0), "Available")
    went(b, "disconnected", local(2026, 5, 7, 12, 0))
    went(b, "connected", local(2026, 5, 7, 12, 30))
    figures.refresh([date(2026, 4, 1), MAY], now=AFTER)
    return site


@pytest.fixture
def staff(make_user):
    client = Client()
    client.force_login(
        make_user(
            "operations.view_uptimemonth",
            "operations.view_outageexclusion",
            "operations.add_outageexclusion",
            is_staff=True,
        )
    )
    return client


def read_csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- The summary and its figures ------------------------------------------------------------


def test_refresh_stores_each_port_month_and_its_outages(network):
    rows = {
        (r.connector.charge_point.charge_point_id, r.connector.connector_id): r
        for r in UptimeMonth.objects.filter(month=MAY)
    }
    assert {key: (r.outage, r.failures, r.uptime_percent) for key, r in rows.items()} == {
        ("CP-A", 1): (timedelta(minutes=210), 2, Decimal("99.52")),
        # Down from April: 180 min in May, but no outage begun in May.
        ("CP-A", 2): (timedelta(minutes=180), 0, Decimal("99.59")),
        ("CP-B", 1): (timedelta(minutes=30), 1, Decimal("99.93")),
    }
    may_outages = OutagePeriod.objects.filter(month=MAY).order_by("starts_at")
    assert [(o.cause, o.duration, o.continued) for o in may_outages] == [
        ("Faulted: OverVoltage", timedelta(hours=3), True),
        ("Offline", timedelta(minutes=30), False),
        ("Faulted: GroundFailure", timedelta(minutes=150), False),
        ("Unavailable", timedelta(minutes=60), False),
    ]
    # April's piece of the same outage: one hour, begun in April.
    april = OutagePeriod.objects.get(month=date(2026, 4, 1))
    assert (april.duration, april.continued) == (timedelta(hours=1), False)


def test_refreshing_again_replaces_the_months_rows(network):
    figures.refresh([MAY], now=AFTER)

    assert UptimeMonth.objects.filter(month=MAY).count() == 3
    assert OutagePeriod.objects.filter(month=MAY).count() == 4


def test_mttr_and_mtbf_per_charger_site_and_model(network):
    chargers = {row.label: row for row in figures.table("charge_point", [MAY])}
    cp_a = chargers["CP-A"]
    # 390 min of outage over 2 outages begun; up (2 x 44640 - 390) / 2.
    assert (cp_a.outage, cp_a.failures) == (timedelta(minutes=390), 2)
    assert cp_a.mttr == timedelta(minutes=195)
    assert cp_a.mtbf == timedelta(minutes=(89280 - 390) / 2)
    assert chargers["CP-B"].mttr == timedelta(minutes=30)

    [site] = figures.table("site", [MAY])
    assert (site.label, site.ports, site.failures) == ("Kista", 3, 3)
    assert site.mttr == timedelta(minutes=420 / 3)
    # (3 x 44640 - 420) / 133920 = 99.6863… → 99.68
    assert site.uptime_percent == Decimal("99.68")

    models = {row.label: row.uptime_percent for row in figures.table("model", [MAY])}
    assert models == {"ABB Terra 54": Decimal("99.56"), "Zaptec Go": Decimal("99.93")}


def test_outages_per_cause_count_outages_begun(network):
    causes = {c["cause"]: c["outages"] for c in figures.outages_by_cause([MAY])}
    assert causes == {
        "Faulted: GroundFailure": 1,
        "Faulted: OverVoltage": 0,  # begun in April
        "Offline": 1,
        "Unavailable": 1,
    }


def test_the_beat_task_stores_this_and_last_month(db):
    cp = charger("CP-T", ports=1)
    commissioned(cp, datetime.now(local(2026, 1, 1).tzinfo) - timedelta(days=40))

    assert tasks.refresh_recent_uptime.delay().get() >= 2
    assert UptimeMonth.objects.filter(connector__charge_point=cp).count() >= 2


def test_the_beat_task_computes_the_network_report_ahead_of_staff(db, django_assert_num_queries):
    cp = charger("CP-W", ports=1)
    commissioned(cp, datetime.now(local(2026, 1, 1).tzinfo) - timedelta(days=40))

    tasks.refresh_recent_uptime.delay().get()

    # Only the lookup of the summary's newest row: the figures come from the cache.
    with django_assert_num_queries(1):
        figures.report(uptime.current_month())


# --- The admin's pages ----------------------------------------------------------------------


def test_the_report_shows_the_months_figures_and_tables(staff, network):
    page = staff.get(REPORT, {"month": "2026-05"})

    assert page.status_code == 200
    html = page.content.decode()
    for text in ("Kista", "CP-A", "CP-B", "ABB Terra 54", "Zaptec Go", "99.68", "2 h 20 min"):
        assert text in html, text
    chart = page.context["chart"]
    assert chart["months"][-1] == "2026-05" and chart["uptime"][-1] == 99.68
    assert chart["months"][-2] == "2026-04"


def test_the_report_loads_chart_js_from_our_static_files(staff, network):
    urls = asset_urls(staff.get(REPORT).content.decode())

    assert f"{settings.STATIC_URL}chartjs/chart.bundle.min.js" in urls
    assert f"{settings.STATIC_URL}operations/uptime_charts.js" in urls
    assert [url for url in urls if not url.startswith(settings.STATIC_URL)] == []


def test_the_server_serves_chart_js(ocpp_server):
    status_code, body = fetch(ocpp_server, f"{settings.STATIC_URL}chartjs/chart.bundle.min.js")

    assert status_code == 200
    assert body.startswith(b"/*!\n * Chart.js v4")
    with open(finders.find("chartjs/chart.bundle.min.js"), "rb") as file:
        assert body == file.read()


def test_a_bad_month_in_the_query_shows_an_error_and_this_month(staff, network):
    page = staff.get(REPORT, {"month": "2026-13"})

    assert page.status_code == 200
    assert "Give a month as YYYY-MM" in page.content.decode()


def test_staff_without_the_permission_are_refused(make_user, network):
    client = Client()
    client.force_login(make_user(is_staff=True))

    assert client.get(REPORT).status_code == 403
    assert client.get(REPORT + "csv/site/").status_code == 403


def test_the_outage_list_links_each_outage_to_its_exclusion_form(staff, network):
    page = staff.get(REPORT + "outages/", {"month": "2026-05", "charge_point": "CP-B"})

    rows = page.context["rows"]
    assert [(o.cause, o.duration) for o, _url in rows] == [("Offline", timedelta(minutes=30))]
    form = staff.get(rows[0][1])
    assert form.status_code == 200
    initial = form.context["adminform"].form.initial
    assert initial["starts_at"] == local(2026, 5, 7, 12, 0)
    assert int(initial["connector"]) == rows[0][0].connector_id


# --- CSV ------------------------------------------------------------------------------------


def test_csv_of_sites_chargers_models_and_months(staff, network):
    sites = read_csv(staff.get(REPORT + "csv/site/", {"month": "2026-05"}))
    assert sites[0][:6] == [
        "Name",
        "Ports",
        "Minutes measured",
        "Outage minutes",
        "Excluded minutes",
        "Uptime (%)",
    ]
    assert sites[1] == [
        "Kista",
        "3",
        "133920.00",
        "420.00",
        "0.00",
        "99.68",
        "3",
        "140.00",
        "741.67",
    ]

    chargers = read_csv(staff.get(REPORT + "csv/charge_point/", {"month": "2026-05"}))
    assert [row[0] for row in chargers[1:]] == ["CP-A", "CP-B"]
    models = read_csv(staff.get(REPORT + "csv/model/", {"month": "2026-05"}))
    assert [row[0] for row in models[1:]] == ["ABB Terra 54", "Zaptec Go"]
    months = read_csv(staff.get(REPORT + "csv/month/", {"month": "2026-05"}))
    assert [row[0] for row in months[1:]] == ["2026-04", "2026-05"]  # months with figures
    ports = read_csv(staff.get(REPORT + "csv/connector/", {"month": "2026-05"}))
    assert [row[0] for row in ports[1:]] == ["CP-A #1", "CP-A #2", "CP-B #1"]


def test_csv_of_the_outages(staff, network):
    rows = read_csv(staff.get(REPORT + "csv/outages/", {"month": "2026-05", "site": network.pk}))

    assert rows[0][:5] == ["Site", "Charger", "Connector", "From", "Until"]
    assert rows[1] == [
        "Kista",
        "CP-A",
        "1",
        "2026-05-20T08:00:00+02:00",
        "2026-05-20T09:00:00+02:00",
        "60.00",
        "0.00",
        "Unavailable",
        "no",
    ]
    assert len(rows) == 5


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(staff, db):
    site = Site.objects.create(name="=HYPERLINK(1)")
    commissioned(charger("CP-X", ports=1, site=site), local(2026, 4, 1, 0, 0))
    figures.refresh([MAY], now=AFTER)

    sites = read_csv(staff.get(REPORT + "csv/site/", {"month": "2026-05"}))
    assert sites[1][0] == "'=HYPERLINK(1)"


def test_an_unknown_csv_table_is_404(staff, network):
    assert staff.get(REPORT + "csv/secrets/").status_code == 404


# --- Excluding an outage --------------------------------------------------------------------


def exclusion_form(cp, **fields):
    return {
        "cause": "grid_outage",
        "reason": "Substation fault",
        "starts_at_0": "2026-05-07",
        "starts_at_1": "12:00:00",
        "ends_at_0": "2026-05-07",
        "ends_at_1": "12:20:00",
        "site": "",
        "charge_point": str(cp.pk),
        "connector": "",
        **fields,
    }


def test_excluding_an_outage_needs_a_reason(staff, network):
    cp = network.charge_points.get(charge_point_id="CP-B")
    page = staff.post("/admin/operations/outageexclusion/add/", exclusion_form(cp, reason=""))

    assert page.status_code == 200
    assert "reason" in page.context["adminform"].form.errors
    assert not OutageExclusion.objects.exists()


def test_excluding_an_outage_names_who_and_recomputes_its_month(staff, network):
    cp = network.charge_points.get(charge_point_id="CP-B")
    response = staff.post("/admin/operations/outageexclusion/add/", exclusion_form(cp))

    assert response.status_code == 302
    exclusion = OutageExclusion.objects.get()
    assert exclusion.created_by is not None
    may = UptimeMonth.objects.get(connector__charge_point=cp, month=MAY)
    # 20 of the 30 offline minutes excluded: (44640 - 10) / 44640 = 99.9775… → 99.97
    assert (may.excluded, may.uptime_percent) == (timedelta(minutes=20), Decimal("99.97"))


def test_an_exclusion_must_name_a_site_charger_or_connector(staff, network):
    cp = network.charge_points.get(charge_point_id="CP-B")
    page = staff.post("/admin/operations/outageexclusion/add/", exclusion_form(cp, charge_point=""))

    assert page.status_code == 200
    assert not OutageExclusion.objects.exists()


def test_the_report_shows_an_exclusion_at_once_though_its_figures_are_cached(staff, network):
    cp = network.charge_points.get(charge_point_id="CP-B")
    before = staff.get(REPORT, {"month": "2026-05", "charge_point": "CP-B"})
    assert before.context["totals"][0][1]["row"].excluded_minutes == Decimal(0)

    staff.post("/admin/operations/outageexclusion/add/", exclusion_form(cp))

    after = staff.get(REPORT, {"month": "2026-05", "charge_point": "CP-B"})
    assert after.context["totals"][0][1]["row"].excluded_minutes == Decimal(20)
