"""/api/v1/me/sessions/: a driver's own sessions; start and stop through a real charger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import BillingAccount
from stations.models import ChargePoint, ChargerCommand, ChargingSession, Connector, Site
from tests.billing.sessions import finished_session, meter_sample, token_of
from users.models import IdToken


def running_session(connector: Connector, token: IdToken) -> ChargingSession:
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=token.uid,
        id_token=token,
        started_at=timezone.now() - timedelta(minutes=30),
        meter_start_wh=1000,
    )


@pytest.mark.django_db
def test_anonymous_gets_401(anonymous):
    assert anonymous.get("/api/v1/me/sessions/").status_code == 401
    assert anonymous.post("/api/v1/me/sessions/start/", {"connector": 1}).status_code == 401


@pytest.mark.django_db
def test_a_driver_lists_only_their_own_sessions(as_driver, driver, other_driver, connector):
    mine = finished_session(
        connector, token_of(driver), started_at=timezone.now() - timedelta(hours=2), wh=5000
    )
    finished_session(
        connector, token_of(other_driver), started_at=timezone.now() - timedelta(hours=1), wh=1
    )

    response = as_driver.get("/api/v1/me/sessions/")

    assert response.status_code == 200
    assert response.json()["count"] == 1
    [listed] = response.json()["results"]
    assert listed["id"] == mine.pk
    assert listed["energy_wh"] == 5000
    assert listed["charge_point"] == connector.charge_point.charge_point_id
    assert listed["connector_id"] == 1
    assert listed["started_at"].endswith(("+01:00", "+02:00"))


@pytest.mark.django_db
def test_status_filter(as_driver, driver, connector):
    token = token_of(driver)
    finished_session(connector, token, started_at=timezone.now() - timedelta(hours=3), wh=1)
    running = running_session(connector, token)

    results = as_driver.get("/api/v1/me/sessions/?status=active").json()["results"]

    assert [s["id"] for s in results] == [running.pk]


@pytest.mark.django_db
def test_a_running_session_reports_its_energy_so_far(as_driver, driver, connector):
    session = running_session(connector, token_of(driver))
    meter_sample(session, "Energy.Active.Import.Register", "4250", "Wh")

    [listed] = as_driver.get("/api/v1/me/sessions/?status=active").json()["results"]
    detail = as_driver.get(f"/api/v1/me/sessions/{session.pk}/").json()

    assert listed["energy_wh"] == detail["energy_wh"] == 3250


@pytest.mark.django_db
def test_detail_has_the_price(as_driver, driver, connector):
    session = finished_session(
        connector, token_of(driver), started_at=timezone.now() - timedelta(hours=2), wh=10_000
    )

    cost = as_driver.get(f"/api/v1/me/sessions/{session.pk}/").json()["cost"]

    # 10 kWh at 2 SEK net, 25 % VAT.
    assert cost["net"] == "20.00"
    assert cost["gross"] == "25.00"
    assert cost["currency"] == "SEK"
    assert cost["is_final"] is True


@pytest.mark.django_db
def test_detail_of_a_running_session_has_the_cost_so_far(as_driver, driver, connector):
    session = running_session(connector, token_of(driver))

    cost = as_driver.get(f"/api/v1/me/sessions/{session.pk}/").json()["cost"]

    assert cost["is_final"] is False
    assert Decimal(cost["gross"]) == 0


@pytest.mark.django_db
def test_another_drivers_session_is_not_found(as_driver, other_driver, connector):
    theirs = running_session(connector, token_of(other_driver))

    assert as_driver.get(f"/api/v1/me/sessions/{theirs.pk}/").status_code == 404
    assert as_driver.post(f"/api/v1/me/sessions/{theirs.pk}/stop/").status_code == 404
    assert ChargerCommand.objects.count() == 0


@pytest.mark.django_db
def test_start_is_refused_with_the_reason_when_the_wallet_is_short(as_driver, driver, connector):
    token_of(driver)
    BillingAccount.objects.create(user=driver, payment_method=BillingAccount.PaymentMethod.WALLET)

    response = as_driver.post("/api/v1/me/sessions/start/", {"connector": connector.pk})

    assert response.status_code == 403
    assert "wallet holds 0.00 SEK" in response.json()["detail"]
    assert ChargerCommand.objects.count() == 0


@pytest.mark.django_db
def test_start_at_an_unknown_connector_is_a_bad_request(as_driver, driver):
    token_of(driver)

    response = as_driver.post("/api/v1/me/sessions/start/", {"connector": 999999})

    assert response.status_code == 400
    assert "connector" in response.json()


def test_start_at_an_offline_charger_is_a_bad_gateway(db_access, as_driver, driver, connector):
    # Commands record themselves from another thread: the data must be committed.
    token_of(driver)

    response = as_driver.post("/api/v1/me/sessions/start/", {"connector": connector.pk})

    assert response.status_code == 502
    assert response.json()["detail"] == "The charger is offline right now."
    assert response.json()["error"] == "ChargerOffline"


@pytest.mark.django_db
def test_stopping_a_finished_session_is_a_conflict(as_driver, driver, connector):
    session = finished_session(
        connector, token_of(driver), started_at=timezone.now() - timedelta(hours=2), wh=1
    )

    assert as_driver.post(f"/api/v1/me/sessions/{session.pk}/stop/").status_code == 409


async def test_start_and_stop_through_a_charger(charger, client_for, make_user):
    driver = await sync_to_async(make_user)()
    token = await sync_to_async(token_of)(driver, "API-START-1")
    api = client_for(driver)
    here = await sync_to_async(Site.objects.create)(name="API-CP-START site")
    async with charger("API-CP-START", site=here) as cp:
        connector = await sync_to_async(Connector.objects.create)(
            charge_point=await sync_to_async(ChargePoint.objects.get)(
                charge_point_id="API-CP-START"
            ),
            connector_id=1,
        )
        await cp.boot()

        started = await sync_to_async(api.post)(
            "/api/v1/me/sessions/start/", {"connector": connector.pk}, format="json"
        )

        assert started.status_code == 202, started.content
        assert started.json() == {
            "status": "Accepted",
            "connector": connector.pk,
            "id_tag": "API-START-1",
        }
        action, request = cp.received[-1]
        assert action == "RemoteStartTransaction"
        assert request["id_tag"] == "API-START-1"
        assert request["connector_id"] == 1

        session = await sync_to_async(running_session)(connector, token)
        stopped = await sync_to_async(api.post)(f"/api/v1/me/sessions/{session.pk}/stop/")

        assert stopped.status_code == 202, stopped.content
        assert stopped.json() == {"status": "Accepted"}
        assert cp.received[-1] == ("RemoteStopTransaction", {"transaction_id": session.pk})

        # The charger's no comes back with what it said.
        cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        cp.answers["RemoteStopTransaction"] = {"status": "Rejected"}
        refused_start = await sync_to_async(api.post)(
            "/api/v1/me/sessions/start/", {"connector": connector.pk}, format="json"
        )
        refused_stop = await sync_to_async(api.post)(f"/api/v1/me/sessions/{session.pk}/stop/")

        for refused in (refused_start, refused_stop):
            assert refused.status_code == 409, refused.content
            assert refused.json()["status"] == "Rejected"
            assert "Rejected" in refused.json()["detail"]


@pytest.mark.django_db
def test_start_with_another_drivers_token_is_not_found(as_driver, driver, other_driver, connector):
    # One of their own that cannot charge: tests/charging/test_same_answer_at_every_door.py
    token_of(driver)
    theirs = token_of(other_driver, "NOT-YOURS")

    response = as_driver.post(
        "/api/v1/me/sessions/start/", {"connector": connector.pk, "id_token": theirs.uid}
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "You have no token NOT-YOURS: see /api/v1/me/tokens/."
    assert ChargerCommand.objects.count() == 0
