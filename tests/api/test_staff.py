"""Staff endpoints: charge points and commands, sessions, tokens, users."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from stations.models import ChargePoint, ChargerCommand, ChargingSession, Site
from tests.billing.sessions import finished_session, token_of
from users.models import IdToken, User

STAFF_URLS = [
    "/api/v1/charge-points/",
    "/api/v1/sessions/",
    "/api/v1/tokens/",
    "/api/v1/users/",
]
VIEW_ALL = [
    "stations.view_chargepoint",
    "stations.view_chargingsession",
    "users.view_idtoken",
    "users.view_user",
]


@pytest.fixture
def operator(make_user):
    return make_user(
        *VIEW_ALL,
        "stations.change_chargepoint",
        "users.add_idtoken",
        "users.change_idtoken",
        "users.change_user",
        is_staff=True,
    )


@pytest.fixture
def as_operator(client_for, operator):
    return client_for(operator)


@pytest.mark.django_db
@pytest.mark.parametrize("url", STAFF_URLS)
def test_anonymous_gets_401(anonymous, url):
    assert anonymous.get(url).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("url", STAFF_URLS)
def test_a_driver_gets_403_even_with_the_model_permission(make_user, client_for, url):
    driver = make_user(*VIEW_ALL)

    assert client_for(driver).get(url).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("url", STAFF_URLS)
def test_staff_without_the_view_permission_get_403(make_user, client_for, url):
    assert client_for(make_user(is_staff=True)).get(url).status_code == 403


@pytest.mark.django_db
def test_charge_points_with_filters(as_operator):
    here = Site.objects.create(name="Depot")
    ChargePoint.objects.create(charge_point_id="STAFF-CP-1", site=here, is_connected=True)
    ChargePoint.objects.create(
        charge_point_id="STAFF-CP-2", registration_status=ChargePoint.Registration.PENDING
    )

    def ids(query: str = "") -> list[str]:
        response = as_operator.get(f"/api/v1/charge-points/{query}")
        assert response.status_code == 200
        return [cp["charge_point_id"] for cp in response.json()["results"]]

    assert ids() == ["STAFF-CP-1", "STAFF-CP-2"]
    assert ids(f"?site={here.pk}") == ["STAFF-CP-1"]
    assert ids("?registration_status=Pending") == ["STAFF-CP-2"]
    assert ids("?connected=false") == ["STAFF-CP-2"]


@pytest.mark.django_db
def test_staff_approve_a_pending_charger(as_operator, make_user, client_for):
    pending = ChargePoint(
        charge_point_id="STAFF-CP-3", registration_status=ChargePoint.Registration.PENDING
    )
    pending.set_password("a-password-of-sixteen-or-more")
    pending.save()
    url = f"/api/v1/charge-points/{pending.pk}/"
    reader = client_for(make_user("stations.view_chargepoint", is_staff=True))

    assert reader.patch(url, {"registration_status": "Accepted"}).status_code == 403
    response = as_operator.patch(url, {"registration_status": "Accepted", "vendor": "Evil"})

    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.registration_status == ChargePoint.Registration.ACCEPTED
    assert pending.vendor == ""  # from the charger's BootNotification only


@pytest.mark.django_db
def test_staff_cannot_accept_a_pending_charger_that_has_no_password(as_operator):
    # It came without credentials (OCPP_ALLOW_UNKNOWN_CHARGERS): accepted, anyone could be it.
    pending = ChargePoint.objects.create(
        charge_point_id="STAFF-CP-4", registration_status=ChargePoint.Registration.PENDING
    )

    response = as_operator.patch(
        f"/api/v1/charge-points/{pending.pk}/", {"registration_status": "Accepted"}
    )

    assert response.status_code == 400
    assert "password" in response.json()["registration_status"][0]
    pending.refresh_from_db()
    assert pending.registration_status == ChargePoint.Registration.PENDING


@pytest.mark.django_db
def test_all_sessions_with_filters(as_operator, driver, other_driver, connector):
    started = timezone.now() - timedelta(hours=2)
    mine = finished_session(connector, token_of(driver, "STAFF-T1"), started_at=started, wh=1)
    finished_session(connector, token_of(other_driver, "STAFF-T2"), started_at=started, wh=2)

    everything = as_operator.get("/api/v1/sessions/").json()
    by_tag = as_operator.get("/api/v1/sessions/?id_tag=staff-t1").json()
    active = as_operator.get("/api/v1/sessions/?status=active").json()
    cp_id = connector.charge_point.charge_point_id
    at_cp = as_operator.get(f"/api/v1/sessions/?charge_point={cp_id}").json()

    assert everything["count"] == 2
    assert [s["id"] for s in by_tag["results"]] == [mine.pk]
    assert active["count"] == 0
    assert at_cp["count"] == 2
    assert as_operator.get(f"/api/v1/sessions/{mine.pk}/").json()["id_token"] == mine.id_token_id
    # Read-only: refused (DRF checks permissions before the method).
    assert as_operator.post("/api/v1/sessions/", {}).status_code in (403, 405)
    assert ChargingSession.objects.count() == 2


@pytest.mark.django_db
def test_staff_manage_tokens(as_operator, driver, make_user, client_for):
    created = as_operator.post(
        "/api/v1/tokens/", {"uid": "fleet-9", "owner": driver.pk, "group_id": "FLEET"}
    )
    assert created.status_code == 201, created.content
    token = IdToken.objects.get(uid="FLEET-9")
    assert token.owner == driver

    again = as_operator.post("/api/v1/tokens/", {"uid": "Fleet-9 "})
    assert again.status_code == 400
    assert "uid" in again.json()

    listed = as_operator.get(f"/api/v1/tokens/?owner={driver.pk}").json()
    assert [t["uid"] for t in listed["results"]] == ["FLEET-9"]

    blocked = as_operator.patch(f"/api/v1/tokens/{token.pk}/", {"status": "Blocked"})
    assert blocked.status_code == 200
    assert as_operator.get("/api/v1/tokens/?status=Blocked").json()["count"] == 1
    # Deleting needs its own permission.
    assert as_operator.delete(f"/api/v1/tokens/{token.pk}/").status_code == 403
    remover = client_for(make_user("users.view_idtoken", "users.delete_idtoken", is_staff=True))
    assert remover.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    assert not IdToken.objects.filter(uid="FLEET-9").exists()


@pytest.mark.django_db
def test_staff_list_and_deactivate_users(as_operator, driver, operator):
    listed = as_operator.get(f"/api/v1/users/?email={driver.email[:12]}").json()
    staff_only = as_operator.get("/api/v1/users/?is_staff=true").json()

    assert [u["email"] for u in listed["results"]] == [driver.email]
    assert "password" not in listed["results"][0]
    assert [u["email"] for u in staff_only["results"]] == [operator.email]

    response = as_operator.patch(
        f"/api/v1/users/{driver.pk}/", {"is_active": False, "is_staff": True}
    )
    assert response.status_code == 200
    driver.refresh_from_db()
    assert (driver.is_active, driver.is_staff) == (False, False)
    assert as_operator.post("/api/v1/users/", {"email": "x@example.com"}).status_code in (403, 405)
    assert User.objects.filter(email="x@example.com").count() == 0


# --- Commands ------------------------------------------------------------------------------


@pytest.fixture
def commander(make_user):
    return make_user("stations.view_chargepoint", "stations.send_commands", is_staff=True)


def test_a_command_needs_the_send_commands_permission(db_access, client_for, make_user):
    cp = ChargePoint.objects.create(charge_point_id="CMD-PERM")
    url = f"/api/v1/charge-points/{cp.pk}/commands/"
    body = {"action": "Reset", "payload": {"type": "Soft"}}

    assert client_for(make_user()).post(url, body).status_code == 403
    assert client_for(make_user(*VIEW_ALL, is_staff=True)).post(url, body).status_code == 403
    assert ChargerCommand.objects.count() == 0


def test_an_invalid_command_is_a_bad_request(db_access, client_for, commander):
    cp = ChargePoint.objects.create(charge_point_id="CMD-INVALID", is_connected=True)
    url = f"/api/v1/charge-points/{cp.pk}/commands/"
    api = client_for(commander)

    not_a_command = api.post(url, {"action": "BootNotification", "payload": {}})
    bad_payload = api.post(url, {"action": "Reset", "payload": {"type": "Gentle"}})
    not_an_object = api.post(url, {"action": "Reset", "payload": ["Soft"]})

    assert not_a_command.status_code == 400
    assert "action" in not_a_command.json()
    assert bad_payload.status_code == 400
    assert "Invalid Reset" in bad_payload.json()["detail"]
    assert not_an_object.status_code == 400


def test_a_command_to_an_offline_charger_is_a_bad_gateway(db_access, client_for, commander):
    cp = ChargePoint.objects.create(charge_point_id="CMD-OFFLINE")

    response = client_for(commander).post(
        f"/api/v1/charge-points/{cp.pk}/commands/", {"action": "Reset", "payload": {"type": "Soft"}}
    )

    assert response.status_code == 502
    assert response.json()["error"] == "ChargerOffline"
    assert ChargerCommand.objects.get().status == ChargerCommand.Status.OFFLINE


def first_reset_command() -> ChargerCommand:
    try:
        return ChargerCommand.objects.filter(action="Reset").order_by("created_at", "id").first()
    finally:
        # Outside a request nothing closes this thread's connection, and an open one
        # keeps PostgreSQL from dropping the test database at the end of the run.
        connection.close()


async def test_any_command_reaches_the_charger_and_its_answer_comes_back(
    charger, client_for, make_user
):
    commander = await sync_to_async(make_user)(
        "stations.view_chargepoint", "stations.send_commands", is_staff=True
    )
    api = client_for(commander)
    async with charger("CMD-API-1") as cp:
        await cp.boot()
        pk = await sync_to_async(lambda: ChargePoint.objects.get(charge_point_id="CMD-API-1").pk)()
        url = f"/api/v1/charge-points/{pk}/commands/"

        reset = await sync_to_async(api.post)(url, {"action": "Reset", "payload": {"type": "Hard"}})
        # By the id the charger connects with, as well as by the database id.
        data = await sync_to_async(api.post)(
            "/api/v1/charge-points/CMD-API-1/commands/",
            {"action": "DataTransfer", "payload": {"vendorId": "ChargeHub", "data": "ping"}},
        )
        cp.answers["Reset"] = {"status": "Rejected"}
        rejected = await sync_to_async(api.post)(
            url, {"action": "Reset", "payload": {"type": "Soft"}}
        )

    assert reset.status_code == 200, reset.content
    assert reset.json() == {"action": "Reset", "answer": {"status": "Accepted"}}
    assert data.json()["answer"] == {"status": "Accepted", "data": "pong"}
    # The charger's answer is the result, whatever it says.
    assert rejected.json()["answer"] == {"status": "Rejected"}
    assert cp.received[-3:] == [
        ("Reset", {"type": "Hard"}),
        ("DataTransfer", {"vendor_id": "ChargeHub", "data": "ping"}),
        ("Reset", {"type": "Soft"}),
    ]
    command = await sync_to_async(first_reset_command)()
    assert (command.source, command.issued_by_id) == ("api", commander.pk)


async def test_a_charger_that_does_not_answer_is_a_gateway_timeout(
    charger, client_for, make_user, settings
):
    settings.OCPP_COMMAND_TIMEOUT = 1
    commander = await sync_to_async(make_user)(
        "stations.view_chargepoint", "stations.send_commands", is_staff=True
    )
    api = client_for(commander)
    async with charger("CMD-API-SILENT") as cp:
        await cp.boot()
        cp.answers["Reset"] = "silence"
        pk = await sync_to_async(
            lambda: ChargePoint.objects.get(charge_point_id="CMD-API-SILENT").pk
        )()

        response = await sync_to_async(api.post)(
            f"/api/v1/charge-points/{pk}/commands/",
            {"action": "Reset", "payload": {"type": "Soft"}},
        )

    assert response.status_code == 504, response.content
    assert response.json()["error"] == "CommandTimeout"
    assert response.json()["detail"] == "The charger did not answer in time."


# --- A second factor, as for the admin (ADMIN_REQUIRE_MFA) ----------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", STAFF_URLS)
def test_staff_without_a_second_factor_are_refused_when_it_is_required(
    operator, client_for, settings, url
):
    settings.ADMIN_REQUIRE_MFA = True

    response = client_for(operator).get(url)

    assert response.status_code == 403
    assert "second factor" in response.json()["detail"]


@pytest.mark.django_db
def test_a_token_does_not_stand_in_for_the_second_factor(operator, settings):
    from rest_framework.test import APIClient

    from users import api_tokens

    settings.ADMIN_REQUIRE_MFA = True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_tokens.issue(operator)[1]}")

    assert client.get("/api/v1/charge-points/").status_code == 403
    assert client.post(
        "/api/v1/charge-points/1/commands/", {"action": "Reset", "payload": {"type": "Soft"}}
    ).status_code in (403, 404)


@pytest.mark.django_db
def test_staff_with_a_second_factor_are_let_in(operator, client_for, settings):
    from allauth.mfa.models import Authenticator

    settings.ADMIN_REQUIRE_MFA = True
    Authenticator.objects.create(user=operator, type=Authenticator.Type.TOTP, data={})

    assert client_for(operator).get("/api/v1/charge-points/").status_code == 200


def test_a_charge_point_is_addressed_by_database_id_or_charge_point_id(
    db_access, client_for, make_user
):
    staff = client_for(make_user(*VIEW_ALL, is_staff=True))
    dotted = ChargePoint.objects.create(charge_point_id="SE.STH:DEMO-002")
    numbered = ChargePoint.objects.create(charge_point_id="4711")

    assert staff.get(f"/api/v1/charge-points/{dotted.pk}/").json()["id"] == dotted.pk
    assert staff.get("/api/v1/charge-points/SE.STH:DEMO-002/").json()["id"] == dotted.pk
    assert staff.get("/api/v1/charge-points/4711/").json()["id"] == numbered.pk
    missing = staff.get("/api/v1/charge-points/NOPE-1/")
    assert missing.status_code == 404
    assert "NOPE-1" in missing.json()["detail"]
    assert staff.get("/api/v1/charge-points/" + "9" * 40 + "/").status_code == 404
