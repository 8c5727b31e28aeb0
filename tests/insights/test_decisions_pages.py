"""The decision pages in admin and who sees them: the forecast, the maintenance ranking
with "create inspection ticket", site planning on a map; and the station page's hint."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse

from insights.models import CandidateLocation, ChargerRisk, HourForecast, SiteForecast
from operations.models import Ticket
from stations.models import ChargePoint
from tests.insights.decisions import site_with, staff_client
from users import roles

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FORECAST = "admin:insights_siteforecast_changelist"
RISKS = "admin:insights_chargerrisk_changelist"
PLANNING = "admin:insights_candidatelocation_changelist"


def forecast_for(
    site, *, model_error: float, baseline_error: float, full_hours: int = 0
) -> SiteForecast:
    HourForecast.objects.bulk_create(
        HourForecast(site=site, hour=NOW + timedelta(hours=h), occupancy=1.5) for h in range(168)
    )
    return SiteForecast.objects.create(
        site=site,
        trained_at=NOW,
        connectors=2,
        history_hours=2000,
        weeks_held_back=2,
        model_error=model_error,
        baseline_error=baseline_error,
        full_hours=full_hours,
        first_full_at=NOW + timedelta(hours=17) if full_hours else None,
        busy_from=17,
        busy_to=19,
        quiet_at=14,
    )


def risk_on(charge_point: ChargePoint, score: float = 9.0) -> ChargerRisk:
    return ChargerRisk.objects.create(
        charge_point=charge_point,
        assessed_on=date(2026, 6, 1),
        score=score,
        flagged=True,
        evidence=[{"metric": "faults", "recent": 2.0, "own": 0.1, "peers": 0.05, "risk": score}],
    )


def test_forecast_page_shows_errors_flags_full_sites_and_says_when_the_model_loses() -> None:
    good = forecast_for(
        site_with(2, name="Good"), model_error=0.4, baseline_error=0.6, full_hours=3
    )
    forecast_for(site_with(2, name="Worse"), model_error=0.7, baseline_error=0.6)
    client = staff_client(roles.OPERATOR_ADMIN)
    page = client.get(reverse(FORECAST), {"site": good.site_id}).content.decode()
    assert "0.40" in page and "0.60" in page
    assert "Full 3 h" in page
    assert 'id="not-beating"' in page
    assert "At 1 site the model does not beat seasonal-naive" in page
    assert 'id="forecast-chart-data"' in page
    csv = client.get(reverse("admin:insights_siteforecast_csv")).content.decode().splitlines()
    assert len(csv) == 1 + 2 * 168
    assert csv[1].startswith("Good,")


def test_no_warning_when_the_model_beats_seasonal_naive_everywhere() -> None:
    forecast_for(site_with(2), model_error=0.4, baseline_error=0.6)
    page = staff_client(roles.OPERATOR_ADMIN).get(reverse(FORECAST)).content.decode()
    assert 'id="not-beating"' not in page


def test_technicians_see_maintenance_and_open_one_inspection_ticket_per_charger() -> None:
    site = site_with(1, chargers=2)
    wearing, other = ChargePoint.objects.filter(site=site).order_by("charge_point_id")
    risk = risk_on(wearing)
    risk_on(other, score=0.0)
    client = staff_client(roles.TECHNICIAN)
    page = client.get(reverse(RISKS)).content.decode()
    assert wearing.charge_point_id in page
    assert "faults a day 2.00 (own 0.10, model 0.05)" in page
    for _attempt in range(2):
        response = client.post(
            reverse(RISKS),
            {"action": "create_inspection_ticket", "_selected_action": [risk.pk]},
            follow=True,
        )
        assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert (ticket.kind, ticket.charge_point, ticket.status) == (
        Ticket.Kind.INSPECTION,
        wearing,
        Ticket.Status.OPEN,
    )
    assert ticket.occurrences == 2  # asked twice: joined, not opened again
    assert "risk 9.0" in ticket.entries.first().text


def test_who_sees_which_decision_page() -> None:
    forecast_for(site_with(2), model_error=0.4, baseline_error=0.6)
    technician = staff_client(roles.TECHNICIAN)
    assert technician.get(reverse(FORECAST)).status_code == 403
    assert technician.get(reverse(PLANNING)).status_code == 403
    finance = staff_client(roles.FINANCE)
    assert finance.get(reverse(RISKS)).status_code == 403
    support = staff_client(roles.SUPPORT)
    assert support.get(reverse(RISKS)).status_code == 403
    admin = staff_client(roles.OPERATOR_ADMIN)
    for page in (FORECAST, RISKS, PLANNING):
        assert admin.get(reverse(page)).status_code == 200


def test_planning_page_ranks_sites_and_candidates_on_a_map_from_our_static_files() -> None:
    site_with(1, name="Centre", lat="59.33", lon="18.06")
    CandidateLocation.objects.create(
        name="Ringvägen",
        latitude=Decimal("59.41"),
        longitude=Decimal("18.06"),
        expected_traffic=2000,
    )
    client = staff_client(roles.OPERATOR_ADMIN)
    page = client.get(reverse(PLANNING)).content.decode()
    assert "Centre" in page and "Ringvägen" in page
    assert f"{settings.STATIC_URL}leaflet/leaflet.js" in page
    assert 'id="planning-markers"' in page
    csv = client.get(reverse("admin:insights_candidatelocation_csv", args=["candidates"]))
    # 2000 vehicles a day count as 2 drivers; 8.9 km from Centre: no discount.
    assert csv.content.decode().splitlines()[1].endswith(",2.0")
    assert (
        client.get(reverse("admin:insights_candidatelocation_csv", args=["x"])).status_code == 404
    )


def test_a_candidate_with_impossible_coordinates_is_a_form_error() -> None:
    client = staff_client(roles.OPERATOR_ADMIN)
    response = client.post(
        reverse("admin:insights_candidatelocation_add"),
        {"name": "Nowhere", "latitude": "123", "longitude": "18"},
    )
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 90." in response.content.decode()
    assert not CandidateLocation.objects.exists()


@pytest.mark.parametrize(
    ("language", "busy", "quiet"),
    [
        ("en", "Usually busy 17\u201319", "quieter at 14:00"),
        ("sv", "Oftast fullt 17\u201319", "lugnare kl. 14:00"),
    ],
)
def test_station_page_says_when_it_is_usually_busy_and_quieter(
    client, language, busy, quiet
) -> None:
    site = site_with(2)
    forecast_for(site, model_error=0.4, baseline_error=0.6)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert busy in page and quiet in page


def test_station_page_without_a_forecast_has_no_hint(client) -> None:
    site = site_with(2)
    page = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert 'id="usual-busy"' not in page
