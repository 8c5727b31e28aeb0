"""GET /api/v1/stations/ and /api/v1/connectors/{id}/price/: public, anonymous."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import CustomerGroup, Tariff, TariffAssignment
from operations.models import MaintenanceWindow
from stations.models import Booking, ChargePoint, Connector, Site
from users.models import IdToken

pytestmark = pytest.mark.django_db


def site(name: str, lat: str | None = None, lon: str | None = None) -> Site:
    return Site.objects.create(name=name, latitude=lat, longitude=lon)


def charger(at: Site, cp_id: str, *, online: bool = True, **fields: object) -> ChargePoint:
    now = timezone.now()
    return ChargePoint.objects.create(
        charge_point_id=cp_id,
        site=at,
        is_connected=online,
        last_seen_at=now if online else now - timedelta(days=1),
        **fields,
    )


def plug(cp: ChargePoint, number: int = 1, **fields: object) -> Connector:
    fields.setdefault("status", Connector.Status.AVAILABLE)
    return Connector.objects.create(charge_point=cp, connector_id=number, **fields)


def names(response) -> list[str]:
    return [station["name"] for station in response.json()["results"]]


def test_stations_are_listed_to_anyone_with_their_chargers_and_connectors(anonymous):
    here = site("Lindholmen", "57.706000", "11.938000")
    cp = charger(here, "CP-LIST-1", vendor="Zaptec")
    plug(cp, 0)  # the charger as a whole: not something to plug into
    plug(cp, 1, connector_type="CCS2", max_power_kw=Decimal("150"))
    charger(here, "CP-PENDING", registration_status=ChargePoint.Registration.PENDING)

    response = anonymous.get("/api/v1/stations/")

    assert response.status_code == 200
    [station] = response.json()["results"]
    assert station["name"] == "Lindholmen"
    assert station["latitude"] == "57.706000"
    [listed] = station["charge_points"]
    assert listed["charge_point_id"] == "CP-LIST-1"
    assert listed["online"] is True
    [connector] = listed["connectors"]
    assert connector["connector_id"] == 1
    assert connector["connector_type"] == "CCS2"
    assert connector["max_power_kw"] == "150.00"
    assert connector["status"] == "Available"
    assert connector["available"] is True


def test_a_connector_of_an_offline_charger_is_not_available(anonymous):
    plug(charger(site("Offline"), "CP-OFF", online=False))

    [station] = anonymous.get("/api/v1/stations/").json()["results"]

    [cp] = station["charge_points"]
    assert cp["online"] is False
    assert cp["connectors"][0]["available"] is False


def test_available_filter_keeps_stations_with_a_free_connector_on_an_online_charger(anonymous):
    plug(charger(site("Free"), "CP-FREE"))
    plug(charger(site("Busy"), "CP-BUSY"), status=Connector.Status.CHARGING)
    plug(charger(site("Dark"), "CP-DARK", online=False))

    assert names(anonymous.get("/api/v1/stations/?available=true")) == ["Free"]
    assert names(anonymous.get("/api/v1/stations/")) == ["Busy", "Dark", "Free"]


def test_connector_type_and_power_filters_must_hold_for_one_connector(anonymous):
    mixed = charger(site("Mixed"), "CP-MIXED")
    plug(mixed, 1, connector_type="Type2", max_power_kw=Decimal("22"))
    plug(mixed, 2, connector_type="CCS2", max_power_kw=Decimal("50"))
    plug(charger(site("Fast"), "CP-FAST"), connector_type="CCS2", max_power_kw=Decimal("150"))

    assert names(anonymous.get("/api/v1/stations/?connector_type=CCS2")) == ["Fast", "Mixed"]
    assert names(anonymous.get("/api/v1/stations/?min_power=100")) == ["Fast"]
    assert names(anonymous.get("/api/v1/stations/?connector_type=Type2&min_power=50")) == []
    assert anonymous.get("/api/v1/stations/?connector_type=Tesla").status_code == 400
    assert anonymous.get("/api/v1/stations/?min_power=lots").status_code == 400
    assert anonymous.get("/api/v1/stations/?min_power=NaN").status_code == 400


def test_near_sorts_by_distance_and_gives_it(anonymous):
    plug(charger(site("Malmö", "55.604981", "13.003822"), "CP-MALMO"))
    plug(charger(site("Göteborg", "57.708870", "11.974560"), "CP-GBG"))
    plug(charger(site("Nowhere"), "CP-NOWHERE"))  # no coordinates: last
    plug(charger(site("Stockholm", "59.329323", "18.068581"), "CP-STHLM"))

    response = anonymous.get("/api/v1/stations/?near=57.7,11.97")

    assert names(response) == ["Göteborg", "Malmö", "Stockholm", "Nowhere"]
    distances = [station["distance_km"] for station in response.json()["results"]]
    assert distances[0] < 2
    assert 240 < distances[1] < 250  # Göteborg to Malmö as the crow flies
    assert 390 < distances[2] < 400
    assert distances[3] is None
    assert anonymous.get("/api/v1/stations/?near=north").status_code == 400
    assert anonymous.get("/api/v1/stations/?near=91,0").status_code == 400


def test_stations_are_paginated(anonymous):
    for number in range(5):
        plug(charger(site(f"Site {number}"), f"CP-PAGE-{number}"))
    site("No chargers")  # nothing to charge at: not a station

    first = anonymous.get("/api/v1/stations/?page_size=2").json()
    last = anonymous.get("/api/v1/stations/?page_size=2&page=3").json()

    assert first["count"] == 5
    assert [s["name"] for s in first["results"]] == ["Site 0", "Site 1"]
    assert first["next"].endswith("page=2&page_size=2")
    assert [s["name"] for s in last["results"]] == ["Site 4"]
    assert last["next"] is None


def test_one_station(anonymous):
    here = site("Detail")
    plug(charger(here, "CP-DETAIL"))

    response = anonymous.get(f"/api/v1/stations/{here.pk}/")

    assert response.status_code == 200
    assert response.json()["charge_points"][0]["charge_point_id"] == "CP-DETAIL"
    assert anonymous.get("/api/v1/stations/999999/").status_code == 404
    assert anonymous.get(f"/api/v1/stations/{site('Empty').pk}/").status_code == 404


def test_a_charger_under_maintenance_says_until_when(anonymous):
    here = site("Maintained")
    held, free = charger(here, "CP-MAINT"), charger(here, "CP-NOT-MAINT")
    plug(held)
    plug(free)
    now = timezone.now().replace(microsecond=0)
    MaintenanceWindow.objects.create(
        charge_point=held,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=2),
        reason="New cable",
    )
    ends = (now + timedelta(hours=2)).astimezone(UTC)

    for url in ("/api/v1/stations/", f"/api/v1/stations/{here.pk}/"):
        body = anonymous.get(url).json()
        station = body["results"][0] if "results" in body else body
        until = {
            cp["charge_point_id"]: cp["under_maintenance_until"] for cp in station["charge_points"]
        }
        assert datetime.fromisoformat(until["CP-MAINT"]) == ends
        assert until["CP-NOT-MAINT"] is None


def test_price_of_a_connector_is_public_with_and_without_vat(anonymous, connector):
    response = anonymous.get(f"/api/v1/connectors/{connector.pk}/price/")

    assert response.status_code == 200
    price = response.json()
    assert price["currency"] == "SEK"
    assert price["vat_rate"] == "25.00"
    assert price["price_per_kwh"] == {"net": "2.0000", "gross": "2.5000"}
    assert price["min_price"] is None
    assert price["time_zone"] == "Europe/Stockholm"


def test_a_driver_sees_the_price_of_their_own_group(client_for, make_user, connector):
    fleet_driver = make_user()
    group = CustomerGroup.objects.create(name="API fleet", kind=CustomerGroup.Kind.FLEET)
    group.members.add(fleet_driver)
    cheap = Tariff.objects.create(name="Fleet", price_per_kwh=Decimal("1.2"))
    TariffAssignment.objects.create(tariff=cheap, connector=connector, customer_group=group)
    url = f"/api/v1/connectors/{connector.pk}/price/"

    assert client_for(fleet_driver).get(url).json()["price_per_kwh"]["net"] == "1.2000"
    assert client_for(make_user()).get(url).json()["price_per_kwh"]["net"] == "2.0000"


def test_no_price_and_no_connector_are_not_found(anonymous):
    cp = charger(site("Free of charge"), "CP-NOPRICE")
    plug(cp, 0)
    no_tariff = plug(cp, 1)

    assert anonymous.get(f"/api/v1/connectors/{no_tariff.pk}/price/").status_code == 404
    zero = Connector.objects.get(charge_point=cp, connector_id=0)
    assert anonymous.get(f"/api/v1/connectors/{zero.pk}/price/").status_code == 404


def test_stations_can_be_searched_by_place(anonymous):
    harbour = Site.objects.create(name="Hamnen", address="Kajgatan 1", city="Malmö")
    plug(charger(harbour, "CP-Q-1"), 1)
    plug(charger(site("Centrum"), "CP-Q-2"), 1)

    assert names(anonymous.get("/api/v1/stations/", {"q": "kajgatan"})) == ["Hamnen"]
    assert names(anonymous.get("/api/v1/stations/", {"q": "hamnen malm"})) == ["Hamnen"]
    assert names(anonymous.get("/api/v1/stations/", {"q": "nowhere"})) == []
    assert anonymous.get("/api/v1/stations/", {"q": "x" * 101}).status_code == 400


def test_a_connector_shows_its_upcoming_booked_slots_and_not_who_booked(anonymous, make_user):
    here = site("Booked here")
    connector = plug(charger(here, "CP-BOOKED"))
    driver = make_user(email="booker@example.com")
    token = IdToken.objects.create(uid="BOOKED-TAG", owner=driver)
    soon = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=2)

    def book(starts_at: datetime, minutes: int, **fields: object) -> Booking:
        return Booking.objects.create(
            connector=connector,
            user=driver,
            id_token=token,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=minutes),
            **fields,
        )

    later = book(soon + timedelta(days=1), 30)
    first = book(soon, 60)
    book(soon + timedelta(hours=3), 60, status=Booking.Status.CANCELLED)
    book(soon - timedelta(hours=5), 60, status=Booking.Status.USED)
    book(soon + timedelta(days=settings.BOOKING_DAYS_AHEAD + 2), 60)  # beyond bookable

    for response in (
        anonymous.get("/api/v1/stations/"),
        anonymous.get(f"/api/v1/stations/{here.pk}/"),
    ):
        body = response.json()
        station = body["results"][0] if "results" in body else body
        [shown] = station["charge_points"][0]["connectors"]
        assert [
            (datetime.fromisoformat(s["starts_at"]), datetime.fromisoformat(s["ends_at"]))
            for s in shown["booked_slots"]
        ] == [(first.starts_at, first.ends_at), (later.starts_at, later.ends_at)]
        assert set(shown["booked_slots"][0]) == {"starts_at", "ends_at"}
        assert "booker" not in response.content.decode()
        assert "BOOKED-TAG" not in response.content.decode()
