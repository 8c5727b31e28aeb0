"""GET /api/v1/stations/?max_price_per_kwh=…, and the opening hours the stations show."""

from datetime import time
from decimal import Decimal

import pytest

from billing.models import CustomerGroup, Tariff, TariffAssignment
from stations.models import OpeningHours, Site
from tests.portal.places import place

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [station["name"] for station in response.json()["results"]]


def test_stations_up_to_a_price_per_kwh_incl_vat(anonymous):
    cheap = place("Cheap", price_per_kwh=Decimal("2.00"))  # 2.50 incl. 25 % VAT
    place("Dear", price_per_kwh=Decimal("4.00"))
    place("Unpriced")
    assert len(names(anonymous.get("/api/v1/stations/"))) == 3
    assert names(anonymous.get("/api/v1/stations/?max_price_per_kwh=2.5")) == [cheap.name]
    assert names(anonymous.get("/api/v1/stations/?max_price_per_kwh=2.4999")) == []


def test_a_logged_in_driver_filters_by_their_own_price(anonymous, as_driver, driver):
    plan = CustomerGroup.objects.create(name="Plan", kind=CustomerGroup.Kind.PLAN)
    plan.members.add(driver)
    site = place("Plan price", price_per_kwh=Decimal("4.00"))
    TariffAssignment.objects.create(
        tariff=Tariff.objects.create(name="Members", price_per_kwh=Decimal("1.00")),
        site=site,
        customer_group=plan,
    )
    assert names(anonymous.get("/api/v1/stations/?max_price_per_kwh=3")) == []
    assert names(as_driver.get("/api/v1/stations/?max_price_per_kwh=3")) == [site.name]


@pytest.mark.parametrize("bad", ["cheap", "-1", "Infinity", "NaN"])
def test_a_max_price_that_is_not_a_price_is_a_400(anonymous, bad):
    response = anonymous.get("/api/v1/stations/", {"max_price_per_kwh": bad})
    assert response.status_code == 400
    assert "max_price_per_kwh" in response.json()


def test_stations_show_their_opening_hours(anonymous):
    always = place("Always")
    limited = place("Limited")
    Site.objects.filter(pk=limited.pk).update(open_24_7=False)
    OpeningHours.objects.create(site=limited, weekday=6, opens=time(10), closes=time(0))
    OpeningHours.objects.create(site=limited, weekday=1, opens=time(7), closes=time(19))

    stations = {s["name"]: s for s in anonymous.get("/api/v1/stations/").json()["results"]}

    assert stations[always.name]["open_24_7"] is True
    assert stations[always.name]["opening_hours"] == []
    assert stations[always.name]["open_now"] is True
    assert stations[limited.name]["open_24_7"] is False
    assert stations[limited.name]["opening_hours"] == [
        {"weekday": 1, "opens": "07:00", "closes": "19:00"},
        {"weekday": 6, "opens": "10:00", "closes": "24:00"},
    ]
    assert isinstance(stations[limited.name]["open_now"], bool)
    detail = anonymous.get(f"/api/v1/stations/{limited.pk}/").json()
    assert detail["opening_hours"] == stations[limited.name]["opening_hours"]
