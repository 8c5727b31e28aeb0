"""Reserving a connector from the portal: billing first, then the charger (ReserveNow)."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing.wallet import credit_wallet_manually
from stations.models import ChargePoint, ChargerCommand, Connector, Reservation, Site
from tests.billing.guest_charging import connector_of, report_status
from tests.portal.places import first_connector, pays_by_wallet, place, token_of
from users.models import IdToken, User


def reservation_of(
    token: IdToken,
    connector: Connector,
    *,
    minutes: int = 20,
    status: str = Reservation.Status.ACCEPTED,
) -> Reservation:
    return Reservation.objects.create(
        charge_point=connector.charge_point,
        connector_id=connector.connector_id,
        id_tag=token.uid,
        expires_at=timezone.now() + timedelta(minutes=minutes),
        status=status,
    )


def clock_at(reservation: Reservation) -> str:
    """The reservation's end, as the clock at its site shows it."""
    zone = ZoneInfo(reservation.charge_point.site.time_zone)
    return timezone.localtime(reservation.expires_at, zone).strftime("%H:%M")


def may_charge(driver: User) -> None:
    pays_by_wallet(driver)
    staff = User.objects.create_user(f"staff-for-{driver.email}", is_staff=True)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="test")


# --- Who may ask, and how --------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_log_in(client):
    connector = first_connector(place("Anonymous"))
    response = client.post(reverse("portal:reserve"), {"connector": connector.pk, "minutes": 15})
    assert response.status_code == 302
    assert "login" in response["Location"]
    assert client.get(reverse("portal:reservations")).status_code == 302
    assert not Reservation.objects.exists()


@pytest.mark.django_db
def test_reserving_and_cancelling_are_post_only(driver, driver_client):
    reservation = reservation_of(token_of(driver), first_connector(place("GET")))
    assert driver_client.get(reverse("portal:reserve")).status_code == 405
    cancel_url = reverse("portal:reservation-cancel", args=[reservation.pk])
    assert driver_client.get(cancel_url).status_code == 405
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACCEPTED


@pytest.mark.django_db
def test_minutes_not_offered_are_a_form_error(driver, driver_client):
    may_charge(driver)
    site = place("Too long")
    response = driver_client.post(
        reverse("portal:reserve"), {"connector": first_connector(site).pk, "minutes": 45}
    )
    assert response.status_code == 400
    assert "Select a valid choice. 45 is not one of the available choices." in (
        response.content.decode()
    )
    assert not ChargerCommand.objects.exists()
    assert not Reservation.objects.exists()


@pytest.mark.django_db
def test_an_unknown_connector_is_a_bad_request(driver_client):
    response = driver_client.post(reverse("portal:reserve"), {"connector": 999_999, "minutes": 15})
    assert response.status_code == 400
    assert "Unknown connector." in response.content.decode()


@pytest.mark.django_db
def test_another_drivers_token_is_a_form_error(driver, driver_client, make_user):
    may_charge(driver)
    theirs = token_of(make_user())
    site = place("Not your card")
    response = driver_client.post(
        reverse("portal:reserve"),
        {"connector": first_connector(site).pk, "minutes": 15, "token": theirs.pk},
    )
    assert response.status_code == 400
    assert not ChargerCommand.objects.exists()


@pytest.mark.django_db
def test_a_payer_who_may_not_charge_cannot_reserve(driver, driver_client, settings):
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet"]
    pays_by_wallet(driver)  # an empty wallet, under BILLING_WALLET_MINIMUM
    site = place("Wallet too low")
    response = driver_client.post(
        reverse("portal:reserve"), {"connector": first_connector(site).pk, "minutes": 15}
    )
    assert response.status_code == 403
    assert "at least 50 SEK is needed to start" in response.content.decode()
    assert not ChargerCommand.objects.exists()
    assert not Reservation.objects.exists()


# Commands do their ORM work on other threads: the data must be committed.
@pytest.mark.django_db(transaction=True)
def test_reserving_at_an_offline_charger_says_so_with_502(driver, driver_client):
    may_charge(driver)
    site = place("Offline", online=False)
    response = driver_client.post(
        reverse("portal:reserve"), {"connector": first_connector(site).pk, "minutes": 15}
    )
    assert response.status_code == 502
    assert "The charger is offline right now." in response.content.decode()
    assert Reservation.objects.get().status == Reservation.Status.REJECTED
    command = ChargerCommand.objects.get()
    assert command.status == ChargerCommand.Status.OFFLINE
    assert command.issued_by == driver and command.source == "portal"


# --- Cancelling -------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_driver_cannot_cancel_my_reservation(driver_client, make_user):
    theirs = reservation_of(token_of(make_user()), first_connector(place("Theirs")))
    response = driver_client.post(reverse("portal:reservation-cancel", args=[theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Reservation.Status.ACCEPTED
    assert not ChargerCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "minutes"),
    [
        (Reservation.Status.USED, 20),
        (Reservation.Status.CANCELLED, 20),
        (Reservation.Status.ACCEPTED, -1),  # ran out of time
    ],
)
def test_cancelling_what_is_not_held_is_an_error(driver, driver_client, status, minutes):
    reservation = reservation_of(
        token_of(driver), first_connector(place("Over")), minutes=minutes, status=status
    )
    response = driver_client.post(reverse("portal:reservation-cancel", args=[reservation.pk]))
    assert response.status_code == 409
    assert "This reservation is no longer held." in response.content.decode()
    assert not ChargerCommand.objects.exists()


# --- What the driver sees ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_reservations_page_lists_held_and_ended_ones(driver, driver_client, make_user):
    site = place("Listed")
    Site.objects.filter(pk=site.pk).update(time_zone="America/New_York")
    connector = first_connector(site)
    card = token_of(driver, "CARD-LISTED")
    held = reservation_of(card, connector, minutes=25)
    reservation_of(card, connector, status=Reservation.Status.CANCELLED)
    reservation_of(card, connector, minutes=-5)  # Accepted, but over
    reservation_of(token_of(make_user(), "NOT-MINE"), connector)

    response = driver_client.get(reverse("portal:reservations"))

    assert response.status_code == 200
    assert list(response.context["held"]) == [held]
    assert len(response.context["ended"]) == 2
    page = response.content.decode()
    # The time at the charger, not the server's.
    assert clock_at(held) in page
    assert reverse("portal:reservation-cancel", args=[held.pk]) in page
    assert page.count("Cancel reservation") == 1
    assert "Cancelled" in page and "Expired" in page
    assert "NOT-MINE" not in page
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_account_and_navigation_link_to_the_reservations(driver_client):
    page = driver_client.get(reverse("portal:account")).content.decode()
    assert page.count(f'href="{reverse("portal:reservations")}"') == 2


@pytest.mark.django_db
def test_the_station_page_offers_reserving_only_a_free_connector(driver, driver_client):
    may_charge(driver)
    site = place(
        "Offer",
        connectors=(("Type2", "22", "Available"), ("Type2", "22", "Charging")),
    )
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert page.count(f'action="{reverse("portal:reserve")}"') == 1
    assert '<option value="30">30 minutes</option>' in page


@pytest.mark.django_db
def test_a_driver_who_may_not_charge_is_not_offered_a_reservation(driver, driver_client, settings):
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet"]
    pays_by_wallet(driver)  # an empty wallet, and no other way to pay
    site = place("No offer")
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert reverse("portal:reserve") not in page


@pytest.mark.django_db
def test_the_station_page_says_until_when_the_connector_is_mine(driver, driver_client):
    may_charge(driver)
    site = place("Mine", connectors=(("Type2", "22", "Reserved"),))
    held = reservation_of(token_of(driver), first_connector(site))
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert f"Reserved for you until {clock_at(held)}." in page
    assert reverse("portal:reserve") not in page


# --- Against a charger ------------------------------------------------------------------


def _driver_at(charge_point_id: str) -> tuple[User, Client, Site]:
    site = Site.objects.create(name=f"Portal {charge_point_id}", city="Göteborg")
    ChargePoint.objects.filter(charge_point_id=charge_point_id).update(site=site)
    driver = User.objects.create_user(f"{charge_point_id.lower()}@example.com", "pw")
    may_charge(driver)
    browser = Client()
    browser.force_login(driver)
    return driver, browser, site


def _reservations() -> list[Reservation]:
    return list(Reservation.objects.order_by("pk"))


async def test_a_reservation_reaches_the_charger_and_the_start_uses_its_app_token(
    charger, db_access
):
    async with charger("PORTAL-RESERVE-APP") as cp:
        await cp.boot()
        await report_status(cp)
        driver, browser, site = await sync_to_async(_driver_at)("PORTAL-RESERVE-APP")
        connector = await sync_to_async(connector_of)("PORTAL-RESERVE-APP")

        before = timezone.now()
        response = await sync_to_async(browser.post)(
            reverse("portal:reserve"), {"connector": connector.pk, "minutes": 30}
        )
        after = timezone.now()

        assert response.status_code == 302, response.content
        assert response["Location"] == reverse("portal:station", args=[site.pk])
        app = await sync_to_async(IdToken.objects.get)(owner=driver)
        assert app.type == IdToken.Type.APP
        [(action, request)] = cp.received
        assert action == "ReserveNow"
        assert (request["connector_id"], request["id_tag"]) == (1, app.uid)
        # OCPP 1.6 expiryDate: UTC with its offset, 30 minutes from now (to the ms sent).
        assert request["expiry_date"].endswith("Z")
        expiry = datetime.fromisoformat(request["expiry_date"])
        hold = timedelta(minutes=30)
        assert before + hold - timedelta(milliseconds=1) <= expiry <= after + hold
        [reservation] = await sync_to_async(_reservations)()
        assert reservation.pk == request["reservation_id"]
        assert reservation.status == Reservation.Status.ACCEPTED

        page = await sync_to_async(browser.get)(response["Location"])
        text = page.content.decode()
        until = await sync_to_async(clock_at)(reservation)
        assert f"is held for you until {until}" in text
        assert "start charging here in the portal" in text
        assert f"Reserved for you until {until}." in text

        # At the charger, the driver starts with the app: the id tag it is held for.
        await report_status(cp, "Reserved")
        response = await sync_to_async(browser.post)(
            reverse("portal:start"), {"connector": connector.pk}
        )
        assert response.status_code == 302
        assert cp.received[-1] == (
            "RemoteStartTransaction",
            {"id_tag": app.uid, "connector_id": 1},
        )


async def test_a_card_reservation_starts_with_the_card_and_can_be_cancelled(charger, db_access):
    async with charger("PORTAL-RESERVE-CARD") as cp:
        await cp.boot()
        await report_status(cp)
        driver, browser, _site = await sync_to_async(_driver_at)("PORTAL-RESERVE-CARD")
        card = await sync_to_async(token_of)(driver, "CARD-RESERVE-1", name="Blue card")
        connector = await sync_to_async(connector_of)("PORTAL-RESERVE-CARD")

        response = await sync_to_async(browser.post)(
            reverse("portal:reserve"),
            {"connector": connector.pk, "minutes": 15, "token": card.pk},
        )
        assert response.status_code == 302, response.content
        assert cp.received[-1][1]["id_tag"] == "CARD-RESERVE-1"
        page = await sync_to_async(browser.get)(response["Location"])
        assert "start charging with Blue card" in page.content.decode()

        # "The app" chosen, yet the connector only starts for the card it is held for.
        await report_status(cp, "Reserved")
        await sync_to_async(browser.post)(reverse("portal:start"), {"connector": connector.pk})
        assert cp.received[-1] == (
            "RemoteStartTransaction",
            {"id_tag": "CARD-RESERVE-1", "connector_id": 1},
        )

        [reservation] = await sync_to_async(_reservations)()
        response = await sync_to_async(browser.post)(
            reverse("portal:reservation-cancel", args=[reservation.pk])
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("portal:reservations")
        assert cp.received[-1] == ("CancelReservation", {"reservation_id": reservation.pk})
        [reservation] = await sync_to_async(_reservations)()
        assert reservation.status == Reservation.Status.CANCELLED
        page = await sync_to_async(browser.get)(response["Location"])
        assert "Reservation cancelled" in page.content.decode()


async def test_a_connector_the_charger_calls_occupied_is_not_reserved(charger, db_access):
    async with charger("PORTAL-RESERVE-BUSY") as cp:
        await cp.boot()
        await report_status(cp)
        _driver, browser, _site = await sync_to_async(_driver_at)("PORTAL-RESERVE-BUSY")
        connector = await sync_to_async(connector_of)("PORTAL-RESERVE-BUSY")
        cp.answers["ReserveNow"] = {"status": "Occupied"}

        response = await sync_to_async(browser.post)(
            reverse("portal:reserve"), {"connector": connector.pk, "minutes": 15}
        )

        assert response.status_code == 409
        assert "The charger did not accept the reservation" in response.content.decode()
        [reservation] = await sync_to_async(_reservations)()
        assert reservation.status == Reservation.Status.REJECTED


async def test_a_cancellation_the_charger_refuses_keeps_the_reservation(charger, db_access):
    async with charger("PORTAL-RESERVE-KEEP") as cp:
        await cp.boot()
        await report_status(cp)
        _driver, browser, _site = await sync_to_async(_driver_at)("PORTAL-RESERVE-KEEP")
        connector = await sync_to_async(connector_of)("PORTAL-RESERVE-KEEP")
        await sync_to_async(browser.post)(
            reverse("portal:reserve"), {"connector": connector.pk, "minutes": 15}
        )
        [reservation] = await sync_to_async(_reservations)()
        cp.answers["CancelReservation"] = {"status": "Rejected"}

        response = await sync_to_async(browser.post)(
            reverse("portal:reservation-cancel", args=[reservation.pk])
        )

        assert response.status_code == 409
        assert (
            "The charger refused to cancel the reservation (it answered Rejected)."
            in response.content.decode()
        )
        [reservation] = await sync_to_async(_reservations)()
        assert reservation.status == Reservation.Status.ACCEPTED


async def test_the_api_start_on_a_reserved_connector_uses_the_token_it_is_held_for(
    charger, db_access
):
    async with charger("API-RESERVE-START") as cp:
        await cp.boot()
        await report_status(cp)
        driver, browser, _site = await sync_to_async(_driver_at)("API-RESERVE-START")
        # The driver's oldest token is a card; the reservation is for the app.
        await sync_to_async(token_of)(driver, "CARD-OLDEST-1")
        connector = await sync_to_async(connector_of)("API-RESERVE-START")
        response = await sync_to_async(browser.post)(
            reverse("portal:reserve"), {"connector": connector.pk, "minutes": 15}
        )
        assert response.status_code == 302, response.content
        app = await sync_to_async(IdToken.objects.get)(owner=driver, type=IdToken.Type.APP)
        await report_status(cp, "Reserved")

        api = APIClient()
        api.force_authenticate(driver)
        response = await sync_to_async(api.post)(
            "/api/v1/me/sessions/start/", {"connector": connector.pk}, format="json"
        )
        assert response.status_code == 202, response.content
        assert response.json()["id_tag"] == app.uid
        assert cp.received[-1] == ("RemoteStartTransaction", {"id_tag": app.uid, "connector_id": 1})
