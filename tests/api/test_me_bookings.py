"""Booking a connector ahead (charging/bookings.py): the slot rules, no double booking,
the hold sent to a real charger at the lead time, the no-show fee and free cancelling."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from billing.models import BillingAccount, Tariff, WalletEntry
from charging import bookings
from charging.refusals import Refused
from stations.models import Booking, ChargePoint, Connector, Reservation, Site
from tests.billing.conftest import in_threads
from tests.billing.sessions import charging_site, finished_session, missed_booking, token_of

pytestmark = pytest.mark.django_db

BOOKINGS = "/api/v1/me/bookings/"


def quarter_hour_ahead(hours: int = 2) -> datetime:
    """A slot start on the quarter hour, `hours` from now."""
    moment = timezone.now() + timedelta(hours=hours)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def book(api, connector: Connector, starts_at: datetime, minutes: int = 60, **extra):
    return api.post(
        BOOKINGS,
        {
            "connector": connector.pk,
            "starts_at": starts_at.isoformat(),
            "minutes": minutes,
            **extra,
        },
        format="json",
    )


def with_no_show_fee(connector: Connector, fee: str) -> Tariff:
    tariff = Tariff.objects.get(assignments__site=connector.charge_point.site)
    tariff.no_show_fee = Decimal(fee)
    tariff.save()
    return tariff


def pays_by_wallet(user) -> None:
    """The driver's account pays by wallet (the fee by other methods: test_no_show_fee)."""
    BillingAccount.objects.create(user=user, payment_method=BillingAccount.PaymentMethod.WALLET)


def wallet_debits(user) -> list[tuple[Decimal, str]]:
    return list(
        WalletEntry.objects.filter(user=user, kind=WalletEntry.Kind.DEBIT).values_list(
            "amount", "reference"
        )
    )


# --- The slot rules -----------------------------------------------------------------------


def test_a_driver_books_a_connector_for_a_slot(as_driver, driver, connector):
    token = token_of(driver, "BOOK-1")
    starts_at = quarter_hour_ahead()

    response = book(as_driver, connector, starts_at, 90)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "booked"
    assert body["id_tag"] == token.uid
    assert body["connector"] == connector.pk
    assert datetime.fromisoformat(body["starts_at"]) == starts_at
    assert datetime.fromisoformat(body["ends_at"]) == starts_at + timedelta(minutes=90)
    assert as_driver.get(f"{BOOKINGS}{body['id']}/").json() == body
    assert [b["id"] for b in as_driver.get(BOOKINGS).json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("shift", "minutes", "message"),
    [
        (timedelta(hours=-3), 60, "in the past"),
        (timedelta(minutes=7), 60, "quarter hour"),
        (timedelta(seconds=30), 60, "quarter hour"),
        (timedelta(0), 50, "steps of 15"),
        (timedelta(0), 135, "15 to 120 minutes"),
        (timedelta(days=8), 60, "7 days ahead"),
    ],
)
def test_a_slot_the_rules_refuse_is_a_400(as_driver, driver, connector, shift, minutes, message):
    token_of(driver)

    response = book(as_driver, connector, quarter_hour_ahead() + shift, minutes)

    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not Booking.objects.exists()


def test_an_unknown_connector_is_a_400(as_driver, driver):
    token_of(driver)

    response = as_driver.post(
        BOOKINGS,
        {"connector": 999999, "starts_at": quarter_hour_ahead().isoformat(), "minutes": 60},
        format="json",
    )

    assert response.status_code == 400
    assert "connector" in response.json()


def test_an_overlapping_slot_is_a_409_and_a_slot_right_after_is_fine(
    as_driver, client_for, driver, other_driver, connector
):
    token_of(driver)
    token_of(other_driver)
    starts_at = quarter_hour_ahead()
    assert book(as_driver, connector, starts_at, 60).status_code == 201
    theirs = client_for(other_driver)

    overlapping = book(theirs, connector, starts_at + timedelta(minutes=45), 60)
    after = book(theirs, connector, starts_at + timedelta(minutes=60), 60)

    assert overlapping.status_code == 409
    assert "already booked" in overlapping.json()["detail"]
    assert after.status_code == 201


def test_a_driver_holds_one_slot_at_a_time(as_driver, driver, connector):
    token_of(driver)
    other = Connector.objects.create(charge_point=connector.charge_point, connector_id=2)
    starts_at = quarter_hour_ahead()
    assert book(as_driver, connector, starts_at, 60).status_code == 201

    response = book(as_driver, other, starts_at + timedelta(minutes=30), 60)

    assert response.status_code == 409
    assert "already have a booking" in response.json()["detail"]


def test_another_drivers_booking_is_not_found(as_driver, client_for, other_driver, connector):
    token_of(other_driver)
    theirs = book(client_for(other_driver), connector, quarter_hour_ahead()).json()

    assert as_driver.get(f"{BOOKINGS}{theirs['id']}/").status_code == 404
    assert as_driver.delete(f"{BOOKINGS}{theirs['id']}/").status_code == 404
    assert as_driver.get(BOOKINGS).json()["results"] == []
    assert Booking.objects.get(pk=theirs["id"]).status == Booking.Status.BOOKED


def test_a_walk_in_reservation_cannot_take_a_booked_slot(
    as_driver, client_for, driver, other_driver, connector
):
    token_of(driver)
    token_of(other_driver)
    assert book(client_for(other_driver), connector, quarter_hour_ahead(0) + timedelta(minutes=30))

    response = as_driver.post(
        "/api/v1/me/reservations/", {"connector": connector.pk, "minutes": 60}
    )

    assert response.status_code == 409
    assert "booked" in response.json()["detail"]


# --- Cancelling -------------------------------------------------------------------------


@override_settings(BOOKING_FREE_CANCEL_MINUTES=60)
def test_cancelling_is_free_until_the_free_window_then_costs_the_no_show_fee(
    as_driver, driver, connector, django_capture_on_commit_callbacks
):
    token_of(driver)
    pays_by_wallet(driver)
    with_no_show_fee(connector, "40")  # 25 % VAT: 50 SEK
    early = book(as_driver, connector, quarter_hour_ahead(3)).json()
    late = book(as_driver, connector, quarter_hour_ahead(3) + timedelta(hours=1)).json()
    Booking.objects.filter(pk=late["id"]).update(
        starts_at=timezone.now() + timedelta(minutes=30),
        ends_at=timezone.now() + timedelta(minutes=90),
    )

    free = as_driver.delete(f"{BOOKINGS}{early['id']}/")
    with django_capture_on_commit_callbacks(execute=True):  # collected after commit
        costly = as_driver.delete(f"{BOOKINGS}{late['id']}/")

    assert free.status_code == 200, free.content
    assert (free.json()["status"], free.json()["fee_charged"]) == ("cancelled", None)
    assert costly.status_code == 200, costly.content
    assert (costly.json()["status"], costly.json()["fee_charged"]) == ("cancelled", "50.00")
    assert wallet_debits(driver) == [(Decimal("-50.00"), f"booking:{late['id']}")]
    assert as_driver.delete(f"{BOOKINGS}{late['id']}/").status_code == 409
    assert len(wallet_debits(driver)) == 1


# --- The slot's end -----------------------------------------------------------------------


# The charger is asked to let go (it is offline here): a command from another thread.
@pytest.mark.django_db(transaction=True)
def test_a_held_slot_not_used_costs_the_no_show_fee_once(driver, connector):
    pays_by_wallet(driver)
    with_no_show_fee(connector, "20")
    booking = missed_booking(driver, connector, uid="NOSHOW-1")

    assert bookings.end_due() == 1
    assert bookings.end_due() == 0

    booking.refresh_from_db()
    assert (booking.status, booking.fee_charged) == (Booking.Status.NO_SHOW, Decimal("25.00"))
    assert wallet_debits(driver) == [(Decimal("-25.00"), f"booking:{booking.pk}")]


def test_a_slot_the_driver_charged_in_is_used_and_free(driver, connector):
    with_no_show_fee(connector, "20")
    booking = missed_booking(driver, connector, uid="USED-1")
    finished_session(
        connector,
        booking.id_token,
        started_at=booking.starts_at + timedelta(minutes=10),
        wh=5000,
        minutes=40,
    )

    bookings.end_due()

    booking.refresh_from_db()
    assert (booking.status, booking.fee_charged) == (Booking.Status.USED, None)
    assert wallet_debits(driver) == []


def test_a_slot_the_charger_never_held_costs_nothing(driver, connector):
    with_no_show_fee(connector, "20")
    booking = missed_booking(driver, connector, uid="NEVER-1")
    Reservation.objects.filter(pk=booking.reservation_id).update(status=Reservation.Status.REJECTED)

    bookings.end_due()

    booking.refresh_from_db()
    assert (booking.status, booking.fee_charged) == (Booking.Status.NO_SHOW, None)
    assert wallet_debits(driver) == []


# --- Two drivers at once ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_one_slot_leave_exactly_one(make_user):
    connector = charging_site("Concurrent")
    drivers = [make_user() for _ in range(6)]
    for number, user in enumerate(drivers):
        token_of(user, f"RACE-{number}")
    starts_at = quarter_hour_ahead()

    def attempt(index: int) -> Booking:
        # Each thread its own overlapping slot: any two of them collide.
        return bookings.book(
            drivers[index], connector, starts_at + timedelta(minutes=15 * (index % 2)), 60, None
        )

    results, errors = in_threads(len(drivers), attempt)

    assert len(results) == 1, (results, errors)
    assert all(isinstance(error, Refused) and error.status == 409 for error in errors.values())
    assert Booking.objects.filter(connector=connector).count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the exclusion constraint is PostgreSQL's"
)
def test_postgresql_refuses_an_overlapping_booking_itself(driver, connector):
    token = token_of(driver)
    starts_at = datetime(2030, 1, 1, 8, tzinfo=UTC)
    Booking.objects.create(
        connector=connector,
        user=driver,
        id_token=token,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(
            connector=connector,
            user=driver,
            id_token=token,
            starts_at=starts_at + timedelta(minutes=30),
            ends_at=starts_at + timedelta(hours=2),
        )
    # Cancelled ones no longer hold the slot.
    Booking.objects.update(status=Booking.Status.CANCELLED)
    Booking.objects.create(
        connector=connector,
        user=driver,
        id_token=token,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
    )


# --- A real charger -----------------------------------------------------------------------


def setup_booking(make_user, charge_point_id: str, connector_id: int) -> tuple[object, Booking]:
    driver = make_user()
    pays_by_wallet(driver)
    token = token_of(driver, "BOOK-WS-1")
    connector = Connector.objects.create(
        charge_point=ChargePoint.objects.get(charge_point_id=charge_point_id),
        connector_id=connector_id,
    )
    tariff = Tariff.objects.create(name="Booked", no_show_fee=Decimal("8"))
    tariff.assignments.create(site=connector.charge_point.site)
    starts_at = quarter_hour_ahead(0) + timedelta(minutes=15)
    booking = bookings.book(driver, connector, starts_at, 30, token)
    return driver, booking


def closed(booking: Booking) -> tuple[str, str, Decimal | None, list]:
    try:
        booking.refresh_from_db()
        return (
            booking.status,
            booking.reservation.status,
            booking.fee_charged,
            wallet_debits(booking.user),
        )
    finally:
        connection.close()  # the test's own thread: no connection left open at teardown


@override_settings(BOOKING_LEAD_MINUTES=15)
async def test_the_charger_holds_the_slot_from_the_lead_time_and_lets_go_when_unused(
    charger, make_user
):
    site = await sync_to_async(Site.objects.create)(name="BOOK-CP-1 site")
    async with charger("BOOK-CP-1", site=site) as cp:
        await cp.boot()
        _driver, booking = await sync_to_async(setup_booking)(make_user, "BOOK-CP-1", 1)
        early = booking.starts_at - timedelta(minutes=16)

        assert await sync_to_async(bookings.hold_due)(early) == 0
        assert await sync_to_async(bookings.hold_due)() == 1
        assert await sync_to_async(bookings.hold_due)() == 0  # held once

        action, request = cp.received[-1]
        assert action == "ReserveNow"
        assert (request["id_tag"], request["connector_id"]) == ("BOOK-WS-1", 1)
        assert datetime.fromisoformat(request["expiry_date"]) == booking.ends_at

        assert await sync_to_async(bookings.end_due)(booking.ends_at) == 1

        reservation_id = request["reservation_id"]
        assert cp.received[-1] == ("CancelReservation", {"reservation_id": reservation_id})
    assert await sync_to_async(closed)(booking) == (
        Booking.Status.NO_SHOW,
        Reservation.Status.CANCELLED,
        Decimal("10.00"),
        [(Decimal("-10.00"), f"booking:{booking.pk}")],
    )
