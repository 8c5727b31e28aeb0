"""billing/tariffs.py: which tariff applies to a driver at a connector, and what the
driver sees before and during a session. Against the database, through the ORM."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from billing.models import CustomerGroup, Tariff, TariffAssignment, TimeOfUsePeriod
from billing.pricing import LineKind
from billing.tariffs import (
    cost_so_far,
    price_of_session,
    price_preview,
    tariff_for,
    usage_from_session,
)
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample, Site
from users.models import IdToken, User

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 5, 6, 12, tzinfo=UTC)  # a Tuesday, 14:00 in Stockholm (CEST)


def D(value: str | int) -> Decimal:
    return Decimal(value)


@pytest.fixture
def site() -> Site:
    return Site.objects.create(name="Lindholmen", time_zone="Europe/Stockholm")


@pytest.fixture
def charge_point(site: Site) -> ChargePoint:
    return ChargePoint.objects.create(charge_point_id="TARIFF-CP-1", site=site)


@pytest.fixture
def connector(charge_point: ChargePoint) -> Connector:
    Connector.objects.create(charge_point=charge_point, connector_id=2)
    return Connector.objects.create(charge_point=charge_point, connector_id=1)


def tariff(name: str, **fields) -> Tariff:
    return Tariff.objects.create(name=name, **fields)


def assign(tariff: Tariff, **where) -> TariffAssignment:
    return TariffAssignment.objects.create(tariff=tariff, **where)


def fleet(*members: User, kind: str = CustomerGroup.Kind.FLEET) -> CustomerGroup:
    group = CustomerGroup.objects.create(name=f"Group {CustomerGroup.objects.count()}", kind=kind)
    group.members.add(*members)
    return group


def test_site_tariff_applies_to_every_connector_of_the_site(site, connector):
    public = tariff("Public")
    assign(public, site=site)
    other = Connector.objects.get(charge_point=connector.charge_point, connector_id=2)
    assert tariff_for(connector, None, NOW) == public
    assert tariff_for(other, None, NOW) == public


def test_most_specific_place_wins_connector_then_charge_point_then_site(
    site, charge_point, connector
):
    at_site = tariff("Site")
    at_charge_point = tariff("Charge point")
    at_connector = tariff("Connector")
    assign(at_site, site=site)
    assign(at_charge_point, charge_point=charge_point)
    assign(at_connector, connector=connector)
    neighbour = ChargePoint.objects.create(charge_point_id="TARIFF-CP-2", site=site)
    neighbour_connector = Connector.objects.create(charge_point=neighbour, connector_id=1)
    other_connector = Connector.objects.get(charge_point=charge_point, connector_id=2)

    assert tariff_for(connector, None, NOW) == at_connector
    assert tariff_for(other_connector, None, NOW) == at_charge_point
    assert tariff_for(neighbour_connector, None, NOW) == at_site


def test_customer_group_tariff_overrides_the_public_one_for_members_only(site, connector, driver):
    public = tariff("Public", price_per_kwh=D("3.00"))
    staff_tariff = tariff("Staff", price_per_kwh=D("0.50"))
    assign(public, site=site)
    assign(staff_tariff, site=site, customer_group=fleet(driver, kind=CustomerGroup.Kind.STAFF))
    stranger = User.objects.create_user(email="stranger@example.com")

    assert tariff_for(connector, driver, NOW) == staff_tariff
    assert tariff_for(connector, stranger, NOW) == public
    assert tariff_for(connector, None, NOW) == public


def test_group_tariff_for_the_site_beats_a_public_tariff_for_the_connector(site, connector, driver):
    assign(tariff("Fast charger"), connector=connector)
    fleet_tariff = tariff("Fleet")
    assign(fleet_tariff, site=site, customer_group=fleet(driver))
    assert tariff_for(connector, driver, NOW) == fleet_tariff


def test_among_group_tariffs_the_most_specific_place_wins(site, charge_point, connector, driver):
    group = fleet(driver)
    assign(tariff("Fleet, site"), site=site, customer_group=group)
    fleet_here = tariff("Fleet, this charger")
    assign(fleet_here, charge_point=charge_point, customer_group=group)
    assert tariff_for(connector, driver, NOW) == fleet_here


def test_tariffs_outside_their_validity_do_not_apply(site, connector):
    expired = tariff("Expired", valid_until=NOW - timedelta(days=1))
    assign(expired, site=site)
    assert tariff_for(connector, None, NOW) is None
    assign(tariff("Not yet"), connector=connector, valid_from=NOW + timedelta(days=1))
    assert tariff_for(connector, None, NOW) is None
    assert tariff_for(connector, None, NOW - timedelta(days=2)) == expired


def session(connector: Connector, started_at: datetime, **fields) -> ChargingSession:
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=fields.pop("id_tag", "TAG-1"),
        started_at=started_at,
        meter_start_wh=fields.pop("meter_start_wh", 0),
        **fields,
    )


def sample(session: ChargingSession, at: datetime, value: str, **fields) -> MeterSample:
    return MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=session.connector.connector_id,
        session=session,
        timestamp=at,
        value=value,
        value_decimal=Decimal(value),
        **fields,
    )


def test_a_price_change_applies_to_sessions_that_start_after_it(site, connector):
    change = datetime(2025, 6, 1, 0, tzinfo=UTC)
    assign(tariff("Old", price_per_kwh=D("2.00")), site=site)
    assign(tariff("New", price_per_kwh=D("4.00")), site=site, valid_from=change)

    # Started before the change, stopped after it: the old price throughout.
    before = session(
        connector,
        change - timedelta(hours=1),
        status=ChargingSession.Status.COMPLETED,
        stopped_at=change + timedelta(hours=1),
        meter_stop_wh=10_000,
    )
    # 10 kWh x 2.00 = 20.00
    assert price_of_session(before).net == D("20.00")

    after = session(
        Connector.objects.get(charge_point=connector.charge_point, connector_id=2),
        change + timedelta(minutes=5),
        status=ChargingSession.Status.COMPLETED,
        stopped_at=change + timedelta(hours=1),
        meter_stop_wh=10_000,
    )
    # 10 kWh x 4.00 = 40.00
    assert price_of_session(after).net == D("40.00")


def test_a_sessions_driver_is_the_owner_of_its_id_token(site, connector, driver):
    assign(tariff("Public", price_per_kwh=D("3.00")), site=site)
    assign(tariff("Fleet", price_per_kwh=D("1.00")), site=site, customer_group=fleet(driver))
    token = IdToken.objects.create(uid="FLEET-CARD", owner=driver)
    charged = session(
        connector,
        NOW - timedelta(hours=1),
        id_tag="FLEET-CARD",
        id_token=token,
        status=ChargingSession.Status.COMPLETED,
        stopped_at=NOW,
        meter_start_wh=1_000,
        meter_stop_wh=6_000,
    )
    # 5 kWh x 1.00 (fleet) = 5.00
    assert price_of_session(charged).net == D("5.00")


def test_running_session_cost_so_far_reads_its_meter_samples(site, connector):
    assign(tariff("Public", price_per_kwh=D("3.00"), price_per_minute=D("0.10")), site=site)
    started = NOW - timedelta(minutes=30)
    running = session(connector, started, meter_start_wh=50_000)
    sample(running, started + timedelta(minutes=15), "52.000", unit="kWh")
    sample(running, started + timedelta(minutes=25), "53500")
    # Believed-wrong timestamps (received time stored instead) are left out.
    sample(running, started + timedelta(minutes=28), "99999", clock_suspect=True)
    # Other measurands and per-phase values are not the energy register.
    sample(
        running, started + timedelta(minutes=26), "7400", measurand="Power.Active.Import", unit="W"
    )
    sample(running, started + timedelta(minutes=27), "20000", phase="L1")

    usage = usage_from_session(running, now=NOW)
    assert usage.running
    assert [step.wh for step in usage.energy] == [D(2_000), D(1_500)]
    assert [w for _, w in usage.power_samples] == [D(7_400)]

    price = cost_so_far(running, now=NOW)
    # 3.5 kWh so far x 3.00 = 10.50; 30 min x 0.10 = 3.00; net 13.50; VAT 3.375 -> 3.38
    assert not price.is_final
    assert [(line.kind, line.quantity, line.net) for line in price.lines] == [
        (LineKind.ENERGY, D("3.500"), D("10.50")),
        (LineKind.TIME, D("30.000"), D("3.00")),
    ]
    assert (price.net, price.vat, price.gross) == (D("13.50"), D("3.38"), D("16.88"))


def test_preview_shows_a_connectors_prices_incl_vat_and_its_time_of_use_schedule(site, connector):
    public = tariff(
        "Public",
        price_per_kwh=D("2.80"),
        price_per_minute=D("0.20"),
        session_fee=D("4.00"),
        idle_fee_per_minute=D("2.00"),
        idle_grace_minutes=15,
        max_price=D("400.00"),
    )
    TimeOfUsePeriod.objects.create(
        tariff=public,
        name="Night",
        weekdays="1234567",
        start_time=time(22),
        end_time=time(6),
        price_per_kwh=D("1.20"),
    )
    assign(public, site=site)

    preview = price_preview(connector, None, at=NOW)
    # Net prices plus 25 % VAT: 2.80 -> 3.50, 0.20 -> 0.25, 4.00 -> 5.00, 2.00 -> 2.50
    assert (preview.tariff, preview.currency, preview.vat_rate) == ("Public", "SEK", D(25))
    assert (preview.price_per_kwh.net, preview.price_per_kwh.gross) == (D("2.80"), D("3.50"))
    assert preview.price_per_minute.gross == D("0.25")
    assert preview.session_fee.gross == D("5.00")
    assert (preview.idle_fee_per_minute.gross, preview.idle_grace_minutes) == (D("2.50"), 15)
    assert preview.min_price is None
    assert preview.max_price.gross == D("500.00")
    assert preview.time_zone == "Europe/Stockholm"
    [night] = preview.time_of_use
    # 1.20 -> 1.50 incl. VAT; the price per minute is the tariff's: 0.20 -> 0.25
    assert (night.name, night.weekdays, night.start, night.end) == (
        "Night",
        (1, 2, 3, 4, 5, 6, 7),
        time(22),
        time(6),
    )
    assert (night.price_per_kwh.gross, night.price_per_minute.gross) == (D("1.50"), D("0.25"))
    assert preview.current_period == ""  # 14:00 in Stockholm
    # 23:30 in Stockholm (CEST) is 21:30 UTC: night prices now.
    assert price_preview(connector, None, at=NOW.replace(hour=21, minute=30)).current_period == (
        "Night"
    )
    assert "Lindholmen" in preview.explanation


def test_no_tariff_means_no_preview_and_no_price(connector):
    assert price_preview(connector, None, at=NOW) is None
    assert price_of_session(session(connector, NOW)) is None


def test_an_assignment_names_exactly_one_place(site, charge_point):
    public = tariff("Public")
    with pytest.raises(ValidationError, match="exactly one"):
        TariffAssignment(tariff=public).clean()
    with pytest.raises(ValidationError, match="exactly one"):
        TariffAssignment(tariff=public, site=site, charge_point=charge_point).clean()
    for where in ({}, {"site": site, "charge_point": charge_point}):
        with pytest.raises(IntegrityError), transaction.atomic():
            TariffAssignment.objects.create(tariff=public, **where)


def test_a_tariff_minimum_cannot_exceed_its_maximum():
    bad = Tariff(name="Bad", min_price=D("50"), max_price=D("10"))
    with pytest.raises(ValidationError, match="maximum price cannot be below"):
        bad.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        bad.save()


@pytest.fixture
def staff_client() -> Client:
    user = User.objects.create_superuser(email="admin@example.com", password="x" * 20)
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_assignments_with_their_level_and_group(
    staff_client, site, charge_point, connector, driver
):
    assign(tariff("Site tariff"), site=site)
    assign(tariff("Connector tariff"), connector=connector, customer_group=fleet(driver))
    response = staff_client.get(reverse("admin:billing_tariffassignment_changelist"))
    assert response.status_code == 200
    rows = [
        (a.tariff.name, a.get_level_display(), str(a.customer_group or ""))
        for a in response.context["cl"].result_list
    ]
    assert sorted(rows) == [
        ("Connector tariff", "Connector", "Group 0 (Fleet)"),
        ("Site tariff", "Site", ""),
    ]
    assert "Effective tariff" in response.content.decode()


def test_admin_explains_the_effective_tariff_for_a_driver_at_a_connector(
    staff_client, site, connector, driver
):
    assign(tariff("Site tariff"), site=site)
    assign(tariff("Fleet tariff"), site=site, customer_group=fleet(driver))
    url = reverse("admin:billing_tariffassignment_effective")
    response = staff_client.get(
        url, {"connector": connector.pk, "driver": driver.pk, "at": "2025-05-06 14:00"}
    )
    assert response.status_code == 200
    assert [a.tariff.name for a in response.context["candidates"]] == [
        "Fleet tariff",
        "Site tariff",
    ]
    assert "Fleet tariff, set for Site Lindholmen for Group 0 (Fleet)" in response.content.decode()
    # A bad form gets the form's errors, not a crash.
    response = staff_client.get(url, {"connector": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors["connector"]


def test_admin_tariff_pages_render(staff_client, site):
    public = tariff("Public", price_per_kwh=D("2.80"))
    TimeOfUsePeriod.objects.create(
        tariff=public, name="Night", weekdays="12345", start_time=time(22), end_time=time(6)
    )
    for url in (
        reverse("admin:billing_tariff_changelist"),
        reverse("admin:billing_tariff_change", args=[public.pk]),
        reverse("admin:billing_tariff_add"),
        reverse("admin:billing_tariffassignment_add"),
        reverse("admin:billing_customergroup_changelist"),
        reverse("admin:billing_customergroup_add"),
    ):
        assert staff_client.get(url).status_code == 200, url


def test_admin_saves_a_tariff_with_time_of_use_periods_on_weekday_checkboxes(staff_client):
    inline = "time_of_use"
    assignments = "assignments"
    response = staff_client.post(
        reverse("admin:billing_tariff_add"),
        {
            "name": "Weekday nights",
            "currency": "SEK",
            "vat_rate": "25",
            "price_per_kwh": "3.00",
            "price_per_minute": "0",
            "session_fee": "0",
            "idle_fee_per_minute": "0",
            "idle_grace_minutes": "0",
            "no_show_fee": "0",
            f"{inline}-TOTAL_FORMS": "1",
            f"{inline}-INITIAL_FORMS": "0",
            f"{inline}-0-position": "0",
            f"{inline}-0-name": "Night",
            f"{inline}-0-weekdays": ["5", "1", "2", "3", "4"],
            f"{inline}-0-start_time": "22:00",
            f"{inline}-0-end_time": "06:00",
            f"{inline}-0-price_per_kwh": "1.00",
            f"{assignments}-TOTAL_FORMS": "0",
            f"{assignments}-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    period = TimeOfUsePeriod.objects.get(tariff__name="Weekday nights")
    assert (period.weekdays, period.start_time, period.price_per_kwh) == (
        "12345",
        time(22),
        D("1.00"),
    )
    # The change page shows the stored weekdays ticked.
    page = staff_client.get(reverse("admin:billing_tariff_change", args=[period.tariff_id]))
    assert page.context["inline_admin_formsets"][0].formset.forms[0]["weekdays"].value() == list(
        "12345"
    )


def test_a_new_tariff_is_in_sek_with_25_percent_vat_and_decimal_prices():
    terms = Tariff(name="Defaults").terms()
    assert (terms.currency, terms.vat_rate) == ("SEK", D(25))
    amounts = (terms.vat_rate, terms.price_per_kwh, terms.price_per_minute, terms.session_fee)
    assert all(type(amount) is Decimal for amount in amounts)
