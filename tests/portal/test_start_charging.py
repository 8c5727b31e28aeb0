"""Starting and stopping from the portal: billing is asked first, then the charger."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from billing.wallet import credit_wallet_manually
from stations.models import ChargePoint, ChargerCommand, ChargingSession, Site
from tests.billing.guest_charging import connector_of, report_status, start_transaction
from tests.conftest import eventually
from tests.portal.places import first_connector, pays_by_wallet, place, session_of, token_of
from users.models import IdToken, User


@pytest.mark.django_db
def test_a_refused_start_shows_the_reason_and_sends_nothing(driver, driver_client):
    pays_by_wallet(driver)
    site = place("Wallet too low")
    response = driver_client.post(reverse("portal:start"), {"connector": first_connector(site).pk})
    assert response.status_code == 403
    assert "at least 50 SEK is needed to start" in response.content.decode()
    assert not ChargerCommand.objects.exists()
    assert not IdToken.objects.filter(owner=driver).exists()


@pytest.mark.django_db
def test_another_drivers_token_is_a_form_error(driver_client, make_user):
    someone_else = token_of(make_user())
    site = place("Not your card")
    response = driver_client.post(
        reverse("portal:start"),
        {"connector": first_connector(site).pk, "token": someone_else.pk},
    )
    assert response.status_code == 400
    assert "Choose one of your tokens." in response.content.decode()
    assert not ChargerCommand.objects.exists()


@pytest.mark.django_db
def test_an_unknown_connector_is_a_bad_request(driver_client):
    response = driver_client.post(reverse("portal:start"), {"connector": 999_999})
    assert response.status_code == 400


# Commands do their ORM work on other threads: the data must be committed.
@pytest.mark.django_db(transaction=True)
def test_starting_at_an_offline_charger_says_so_with_502(driver, driver_client):
    site = place("Offline", online=False)
    response = driver_client.post(reverse("portal:start"), {"connector": first_connector(site).pk})
    assert response.status_code == 502
    assert "The charger is offline right now." in response.content.decode()
    command = ChargerCommand.objects.get()
    assert command.status == ChargerCommand.Status.OFFLINE
    assert command.issued_by == driver and command.source == "portal"


# Commands do their ORM work on other threads: the data must be committed.
@pytest.mark.django_db(transaction=True)
def test_the_first_start_creates_one_app_token_and_reuses_it(driver, driver_client):
    site = place("Offline twice", online=False)
    for _ in range(2):
        driver_client.post(reverse("portal:start"), {"connector": first_connector(site).pk})
    [token] = IdToken.objects.filter(owner=driver)
    assert token.type == IdToken.Type.APP and len(token.uid) <= 20
    assert set(ChargerCommand.objects.values_list("payload__idTag", flat=True)) == {token.uid}


def _driver_with_a_charger(charge_point_id: str) -> tuple[User, Client]:
    site = Site.objects.create(name=f"Portal {charge_point_id}", city="Göteborg")
    ChargePoint.objects.filter(charge_point_id=charge_point_id).update(site=site)
    driver = User.objects.create_user(f"{charge_point_id.lower()}@example.com", "pw")
    staff = User.objects.create_user(f"staff-{charge_point_id.lower()}@example.com", is_staff=True)
    pays_by_wallet(driver)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="test")
    browser = Client()
    browser.force_login(driver)
    return driver, browser


async def test_start_and_stop_from_the_portal_reach_the_charger(charger, db_access):
    async with charger("PORTAL-START") as cp:
        await cp.boot()
        await report_status(cp)
        driver, browser = await sync_to_async(_driver_with_a_charger)("PORTAL-START")
        connector = await sync_to_async(connector_of)("PORTAL-START")

        response = await sync_to_async(browser.post)(
            reverse("portal:start"), {"connector": connector.pk}
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("portal:charging")
        token = await sync_to_async(IdToken.objects.get)(owner=driver)
        assert cp.received == [("RemoteStartTransaction", {"id_tag": token.uid, "connector_id": 1})]

        # The car takes the charge: the session is the driver's, with a stop button.
        started = await start_transaction(cp, token.uid)
        session_id = started["transactionId"]
        page = await sync_to_async(browser.get)(reverse("portal:charging"))
        assert reverse("portal:session", args=[session_id]) in page.content.decode()
        page = await sync_to_async(browser.get)(reverse("portal:session", args=[session_id]))
        assert "Stop charging" in page.content.decode()

        response = await sync_to_async(browser.post)(reverse("portal:stop", args=[session_id]))
        assert response.status_code == 302
        assert await eventually(lambda: len(cp.received) == 2)
        assert cp.received[1] == ("RemoteStopTransaction", {"transaction_id": session_id})


@pytest.mark.django_db
def test_stopping_a_session_that_ended_is_a_conflict(driver, driver_client):
    session = session_of(token_of(driver), first_connector(place("Done")))
    response = driver_client.post(reverse("portal:stop", args=[session.pk]))
    assert response.status_code == 409
    assert "already ended" in response.content.decode()


@pytest.mark.django_db
def test_another_drivers_session_cannot_be_stopped(driver_client, make_user):
    other = make_user()
    session = session_of(token_of(other), first_connector(place("Theirs")), active=True)
    response = driver_client.post(reverse("portal:stop", args=[session.pk]))
    assert response.status_code == 404
    assert ChargingSession.objects.get(pk=session.pk).status == ChargingSession.Status.ACTIVE


@pytest.mark.django_db
def test_a_charger_waiting_for_approval_cannot_be_started(driver_client):
    site = place("Pending")
    site.charge_points.update(registration_status="Pending")
    response = driver_client.post(reverse("portal:start"), {"connector": first_connector(site).pk})
    assert response.status_code == 400
    assert not ChargerCommand.objects.exists()
