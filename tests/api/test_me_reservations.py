"""/api/v1/me/reservations/: holding a connector, through a real charger."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from stations.models import ChargePoint, Connector, Reservation, Site
from tests.billing.sessions import token_of


def reservation_for(connector: Connector, uid: str) -> Reservation:
    return Reservation.objects.create(
        charge_point=connector.charge_point,
        connector_id=connector.connector_id,
        id_tag=uid,
        expires_at=timezone.now() + timedelta(minutes=10),
        status=Reservation.Status.ACCEPTED,
    )


@pytest.mark.django_db
def test_anonymous_gets_401(anonymous):
    assert anonymous.get("/api/v1/me/reservations/").status_code == 401


@pytest.mark.django_db
def test_a_driver_sees_only_reservations_for_their_tokens(
    as_driver, driver, other_driver, connector
):
    mine = reservation_for(connector, token_of(driver, "RES-MINE").uid)
    theirs = reservation_for(connector, token_of(other_driver, "RES-THEIRS").uid)

    results = as_driver.get("/api/v1/me/reservations/").json()["results"]

    assert [r["id"] for r in results] == [mine.pk]
    assert as_driver.get(f"/api/v1/me/reservations/{theirs.pk}/").status_code == 404
    assert as_driver.post(f"/api/v1/me/reservations/{theirs.pk}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Reservation.Status.ACCEPTED


@pytest.mark.django_db
def test_cancelling_what_is_not_held_is_a_conflict(as_driver, driver, connector):
    reservation = reservation_for(connector, token_of(driver, "RES-USED").uid)
    Reservation.objects.filter(pk=reservation.pk).update(status=Reservation.Status.USED)

    assert as_driver.post(f"/api/v1/me/reservations/{reservation.pk}/cancel/").status_code == 409


@pytest.mark.django_db
def test_a_reservation_is_at_most_an_hour(as_driver, driver, connector):
    token_of(driver)

    response = as_driver.post(
        "/api/v1/me/reservations/", {"connector": connector.pk, "minutes": 61}
    )

    assert response.status_code == 400
    assert "minutes" in response.json()


def setup_reservation_charger(make_user):
    driver = make_user()
    token_of(driver, "RES-API-1")
    return driver


def reservations() -> list[tuple[str, str, int]]:
    try:
        return list(Reservation.objects.values_list("id_tag", "status", "connector_id"))
    finally:
        connection.close()  # see test_staff.first_reset_command


async def test_reserve_and_cancel_through_a_charger(charger, client_for, make_user):
    driver = await sync_to_async(setup_reservation_charger)(make_user)
    api = client_for(driver)
    here = await sync_to_async(Site.objects.create)(name="RES-CP-1 site")
    async with charger("RES-CP-1", site=here) as cp:
        await cp.boot()
        connector = await sync_to_async(Connector.objects.create)(
            charge_point=await sync_to_async(ChargePoint.objects.get)(charge_point_id="RES-CP-1"),
            connector_id=2,
        )

        reserved = await sync_to_async(api.post)(
            "/api/v1/me/reservations/", {"connector": connector.pk, "minutes": 20}
        )
        assert reserved.status_code == 201, reserved.content
        body = reserved.json()
        assert (body["charge_point"], body["connector_id"], body["status"]) == (
            "RES-CP-1",
            2,
            "accepted",
        )
        action, request = cp.received[-1]
        assert action == "ReserveNow"
        assert (request["id_tag"], request["connector_id"]) == ("RES-API-1", 2)
        assert request["reservation_id"] == body["id"]

        cancelled = await sync_to_async(api.post)(f"/api/v1/me/reservations/{body['id']}/cancel/")
        assert cancelled.status_code == 200, cancelled.content
        assert cancelled.json()["status"] == "cancelled"
        assert cp.received[-1] == ("CancelReservation", {"reservation_id": body["id"]})

        cp.answers["ReserveNow"] = {"status": "Occupied"}
        refused = await sync_to_async(api.post)(
            "/api/v1/me/reservations/", {"connector": connector.pk}
        )
        assert refused.status_code == 409
        assert refused.json()["status"] == "rejected"

    assert await sync_to_async(reservations)() == [
        ("RES-API-1", "rejected", 2),
        ("RES-API-1", "cancelled", 2),
    ]
