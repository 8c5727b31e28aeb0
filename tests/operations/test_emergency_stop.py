"""Emergency stop per site (operations/emergency.py): simulated OCPP 1.6 chargers over a
real WebSocket, the API, the admin's confirmation and the portal's banner.

While a site is stopped, Authorize and StartTransaction answer Blocked: OCPP 1.6 §7.2 has
no status for "not here, not now", and Blocked ("not allowed for charging") is the one
that does not pretend the token is unknown (Invalid).
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from charging import refusals, start_stop
from operations import emergency
from operations.models import EmergencyStop
from stations.models import ChargePoint, Connector, Site
from tests.billing.sessions import token_of
from tests.conftest import eventually, register
from tests.stations.ocpp_wire import ago, iso, send
from users import roles
from users.models import User

OFFLINE = "The charger is offline right now."
OUT_OF_SERVICE = "This site is out of service."


def _site(name: str, *charge_point_ids: str, connectors: int = 1) -> Site:
    """A site with accepted chargers (registered with the test password by `charger`)."""
    site = Site.objects.create(name=name)
    for charge_point_id in charge_point_ids:
        charge_point = ChargePoint.objects.create(charge_point_id=charge_point_id, site=site)
        for number in range(1, connectors + 1):
            Connector.objects.create(charge_point=charge_point, connector_id=number)
    return site


def _registered(site: Site, *charge_point_ids: str) -> Site:
    """Chargers the `charger` fixture connects with its password."""
    for charge_point_id in charge_point_ids:
        charge_point = register(charge_point_id, site=site)
        Connector.objects.create(charge_point=charge_point, connector_id=1)
    return site


def _results(stop_pk: int) -> dict[str, Any]:
    return EmergencyStop.objects.get(pk=stop_pk).results


def _record_arrivals(cp: Any) -> list[list[Any]]:
    """Every frame the charger gets, in the order the socket delivers them."""
    arrived: list[list[Any]] = []
    route = cp.route_message

    async def recording(raw: str) -> None:
        arrived.append(json.loads(raw))
        await route(raw)

    cp.route_message = recording
    return arrived


def _connected(charge_point_id: str) -> bool:
    return ChargePoint.objects.get(charge_point_id=charge_point_id).is_connected


def _start(connector_id: int, id_tag: str) -> dict[str, Any]:
    return {"connectorId": connector_id, "idTag": id_tag, "meterStart": 0, "timestamp": iso(ago())}


async def test_stop_with_one_charger_offline_which_gets_the_stop_when_it_boots_again(
    charger, make_user
):
    staff = await sync_to_async(make_user)("operations.stop_site", is_staff=True)
    site = await sync_to_async(Site.objects.create)(name="Estop Hamnen")
    await sync_to_async(_registered)(site, "ES-ONLINE", "ES-OFFLINE")
    token = await sync_to_async(token_of)(None, "ESTOP-TAG")

    # One charger lost its connection while charging.
    async with charger("ES-OFFLINE") as lost:
        await lost.boot()
        lost_session = (await send(lost, "StartTransaction", _start(1, token.uid)))["transactionId"]
    assert await eventually(lambda: not _connected("ES-OFFLINE"))

    async with charger("ES-ONLINE") as online:
        await online.boot()
        session = (await send(online, "StartTransaction", _start(1, token.uid)))["transactionId"]

        stop = await sync_to_async(emergency.stop_site)(site, "Smoke from a cabinet", staff)

        # The online charger: its session stopped, then the whole charger Inoperative.
        assert online.received == [
            ("RemoteStopTransaction", {"transaction_id": session}),
            ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}),
        ]
        results = await sync_to_async(_results)(stop.pk)
        assert results["ES-ONLINE"]["stop"][str(session)]["answer"] == "Accepted"
        assert results["ES-ONLINE"]["availability"]["answer"] == "Accepted"
        assert results["ES-OFFLINE"]["availability"]["error"] == OFFLINE
        assert stop.started_by_id == staff.pk and stop.reason == "Smoke from a cabinet"

        # While stopped nobody starts here: the charger's Authorize and StartTransaction
        # are answered Blocked.
        authorized = await send(online, "Authorize", {"idTag": token.uid})
        assert authorized["idTagInfo"]["status"] == "Blocked"
        started = await send(online, "StartTransaction", _start(2, token.uid))
        assert started["idTagInfo"]["status"] == "Blocked"

        # The offline charger comes back: its BootNotification is answered first, then
        # it is asked to stop the session it still had and to be Inoperative.
        async with charger("ES-OFFLINE") as back:
            arrived = _record_arrivals(back)
            booted = await back.boot()
            assert booted.status == "Accepted"
            # The Inoperative goes last: once its answer is in the audit, so is the rest.
            assert await eventually(
                lambda: "answer" in _results(stop.pk)["ES-OFFLINE"]["availability"], timeout=15
            )
            assert back.received == [
                ("RemoteStopTransaction", {"transaction_id": lost_session}),
                ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}),
            ]
            boot_answer = next(i for i, f in enumerate(arrived) if f[0] == 3)
            first_command = next(i for i, f in enumerate(arrived) if f[0] == 2)
            assert boot_answer < first_command
            line = next(
                line
                for line in emergency.describe(await sync_to_async(_stop)(stop.pk))
                if line.charge_point_id == "ES-OFFLINE"
            )
            assert line.availability == "Accepted (when it booted again)"
            assert line.availability_done
            assert line.stop == f"session {lost_session}: Accepted (when it booted again)"

            # Release: Operative again on both; drivers may start again.
            released = await sync_to_async(emergency.release_site)(site, staff)
            assert released.released_by_id == staff.pk and released.released_at is not None
            operative = ("ChangeAvailability", {"connector_id": 0, "type": "Operative"})
            assert online.received[-1] == operative
            assert back.received[-1] == operative
            done = {
                line.charge_point_id: line.release_done for line in emergency.describe(released)
            }
            assert done == {"ES-ONLINE": True, "ES-OFFLINE": True}
            authorized = await send(online, "Authorize", {"idTag": token.uid})
            assert authorized["idTagInfo"]["status"] == "Accepted"

        # Booting again after the release sends nothing.
        async with charger("ES-OFFLINE") as again:
            await again.boot()
            assert (await send(again, "Heartbeat", {}))["currentTime"]
            assert again.received == []


def _stop(pk: int) -> EmergencyStop:
    return EmergencyStop.objects.get(pk=pk)


async def test_a_charger_that_missed_the_release_gets_operative_when_it_boots(charger):
    site = await sync_to_async(Site.objects.create)(name="Estop Missed Release")
    await sync_to_async(_registered)(site, "ES-MISSED")
    async with charger("ES-MISSED") as cp:
        await cp.boot()
        stop = await sync_to_async(emergency.stop_site)(site, "Flooding", None)
        # The boot's own after-boot check may see the stop too and say it again: harmless.
        inoperative = ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"})
        assert cp.received and all(received == inoperative for received in cp.received)
    assert await eventually(lambda: not _connected("ES-MISSED"))
    released = await sync_to_async(emergency.release_site)(site, None)
    assert emergency.describe(released)[0].release == OFFLINE

    async with charger("ES-MISSED") as cp:
        await cp.boot()
        assert await eventually(
            lambda: "answer" in _results(stop.pk)["ES-MISSED"]["release"], timeout=15
        )
        assert cp.received == [("ChangeAvailability", {"connector_id": 0, "type": "Operative"})]
    assert emergency.describe(await sync_to_async(_stop)(stop.pk))[0].release_done


# --- Refusals while stopped ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # commands record themselves from another thread
def test_a_remote_start_or_reservation_on_a_stopped_site_is_refused_at_every_door(driver):
    site = _site("Estop Doors", "ES-DOORS")
    connector = Connector.objects.get(charge_point__site=site)
    token = token_of(driver)
    emergency.stop_site(site, "Cable damage", None)

    with pytest.raises(refusals.OutOfService) as refused:
        start_stop.start(driver, connector, token, source="test")
    assert (refused.value.status, str(refused.value)) == (409, OUT_OF_SERVICE)

    api = APIClient()
    api.force_authenticate(driver)
    answer = api.post("/api/v1/me/sessions/start/", {"connector": connector.pk}, format="json")
    assert (answer.status_code, answer.json()["detail"]) == (409, OUT_OF_SERVICE)
    answer = api.post("/api/v1/me/reservations/", {"connector": connector.pk}, format="json")
    assert (answer.status_code, answer.json()["detail"]) == (409, OUT_OF_SERVICE)

    portal = Client()
    portal.force_login(driver)
    page = portal.post(reverse("portal:start"), {"connector": connector.pk})
    assert page.status_code == 409
    assert OUT_OF_SERVICE in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_portal_shows_a_stopped_site_as_out_of_service(driver_client):
    site = _site("Estop Portal", "ES-PORTAL")
    detail = reverse("portal:station", args=[site.pk])
    assert 'id="out-of-service"' not in driver_client.get(detail).content.decode()

    emergency.stop_site(site, "Fire brigade on site", None)
    page = driver_client.get(detail).content.decode()
    assert 'id="out-of-service"' in page and OUT_OF_SERVICE in page
    assert 'type="submit" disabled>' in page  # no start button to press
    listing = driver_client.get(reverse("portal:stations")).content.decode()
    assert "Out of service" in listing

    emergency.release_site(site, None)
    assert 'id="out-of-service"' not in driver_client.get(detail).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_stations_api_says_a_stopped_site_is_out_of_service(anonymous_api):
    site = _site("Estop Stations API", "ES-PUBLIC")
    ChargePoint.objects.filter(site=site).update(
        registration_status=ChargePoint.Registration.ACCEPTED
    )
    url = f"/api/v1/stations/{site.pk}/"
    assert anonymous_api.get(url).json()["out_of_service"] is False
    emergency.stop_site(site, "Gas leak nearby", None)
    assert anonymous_api.get(url).json()["out_of_service"] is True
    listed = anonymous_api.get("/api/v1/stations/").json()["results"]
    assert [s["out_of_service"] for s in listed if s["id"] == site.pk] == [True]


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


@pytest.mark.django_db(transaction=True)
def test_a_site_is_stopped_once_and_released_once():
    site = _site("Estop Twice", "ES-TWICE")
    with pytest.raises(ValueError):
        emergency.stop_site(site, "   ", None)
    first = emergency.stop_site(site, "Storm", None)
    with pytest.raises(emergency.AlreadyStopped) as again:
        emergency.stop_site(site, "Storm again", None)
    assert again.value.stop == first
    emergency.release_site(site, None)
    with pytest.raises(emergency.NotStopped):
        emergency.release_site(site, None)
    assert EmergencyStop.objects.filter(site=site).count() == 1


# --- API ----------------------------------------------------------------------------------


@pytest.fixture
def api_for() -> Callable[[User], APIClient]:
    def login(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return login


@pytest.mark.django_db(transaction=True)
def test_the_api_stops_and_releases_a_site(make_user, api_for):
    site = _site("Estop API", "ES-API-1", "ES-API-2", connectors=2)
    technician = make_user(
        "operations.stop_site", "stations.view_site", "stations.change_site", is_staff=True
    )
    api = api_for(technician)
    url = f"/api/v1/sites/{site.pk}/"

    assert api.post(f"{url}emergency-stop/", {}, format="json").status_code == 400
    blank = api.post(f"{url}emergency-stop/", {"reason": "  "}, format="json")
    assert blank.status_code == 400 and "reason" in blank.json()
    assert api.post("/api/v1/sites/999999/emergency-stop/", {"reason": "x"}).status_code == 404
    assert api.post(f"{url}emergency-release/").status_code == 409

    stopped = api.post(f"{url}emergency-stop/", {"reason": "Burning smell"}, format="json")
    assert stopped.status_code == 201
    body = stopped.json()
    assert body["active"] is True and body["reason"] == "Burning smell"
    assert body["started_by"] == technician.pk
    assert [(c["charge_point_id"], c["availability"]) for c in body["chargers"]] == [
        ("ES-API-1", OFFLINE),
        ("ES-API-2", OFFLINE),
    ]

    conflict = api.post(f"{url}emergency-stop/", {"reason": "Again"}, format="json")
    assert conflict.status_code == 409
    assert conflict.json()["emergency_stop"]["id"] == body["id"]
    assert conflict.json()["emergency_stop"]["reason"] == "Burning smell"

    assert api.get(url).json()["emergency_stop"]["id"] == body["id"]
    assert [s["id"] for s in api.get("/api/v1/sites/?stopped=true").json()["results"]] == [site.pk]
    assert api.get("/api/v1/sites/?stopped=maybe").status_code == 400

    released = api.post(f"{url}emergency-release/")
    assert released.status_code == 200 and released.json()["active"] is False
    assert api.get(url).json()["emergency_stop"] is None


@pytest.mark.django_db(transaction=True)
def test_the_api_needs_the_stop_site_permission(make_user, api_for, driver):
    site = _site("Estop API Perm", "ES-API-PERM")
    viewer = make_user("stations.view_site", "stations.change_site", is_staff=True)
    for user in (viewer, driver):
        answer = api_for(user).post(
            f"/api/v1/sites/{site.pk}/emergency-stop/", {"reason": "No"}, format="json"
        )
        assert answer.status_code == 403
    assert not EmergencyStop.objects.exists()


@pytest.mark.django_db
def test_the_api_edits_a_site_and_refuses_what_it_cannot_store(make_user, api_for):
    site = _site("Estop Edit", "ES-EDIT")
    editor = api_for(make_user("stations.view_site", "stations.change_site", is_staff=True))
    url = f"/api/v1/sites/{site.pk}/"
    edited = editor.patch(url, {"city": "Göteborg", "country": "se"}, format="json")
    assert edited.status_code == 200
    assert (edited.json()["city"], edited.json()["country"]) == ("Göteborg", "SE")
    assert editor.patch(url, {"time_zone": "Mars/Olympus"}, format="json").status_code == 400
    assert editor.patch(url, {"latitude": "91"}, format="json").status_code == 400
    assert editor.put(url, {"name": "x"}, format="json").status_code == 405
    reader = api_for(make_user("stations.view_site", is_staff=True))
    assert reader.patch(url, {"city": "Borås"}, format="json").status_code == 403


# --- Admin --------------------------------------------------------------------------------


@pytest.fixture
def technician_admin(make_user) -> Client:
    client = Client()
    client.force_login(
        make_user(
            "operations.stop_site",
            "operations.view_emergencystop",
            "stations.view_site",
            is_staff=True,
        )
    )
    return client


@pytest.mark.django_db(transaction=True)
def test_the_admin_asks_for_a_reason_naming_the_site_and_its_connectors(technician_admin):
    site = _site("Estop Admin", "ES-ADM-1", "ES-ADM-2", connectors=2)
    changelist = reverse("admin:stations_site_changelist")
    action = {"action": "emergency_stop", "_selected_action": [site.pk]}

    confirm = technician_admin.post(changelist, action)
    page = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Estop Admin" in page and "4 connectors" in page
    assert not EmergencyStop.objects.exists()

    without_reason = technician_admin.post(changelist, {**action, "post": "yes", "reason": ""})
    assert without_reason.status_code == 200  # the form again, with its error
    assert not EmergencyStop.objects.exists()

    done = technician_admin.post(
        changelist, {**action, "post": "yes", "reason": "Vandalised cable"}, follow=True
    )
    page = done.content.decode()
    assert f"Estop Admin · ES-ADM-1: {OFFLINE}" in page
    stop = EmergencyStop.objects.get(site=site)
    assert stop.reason == "Vandalised cable" and stop.is_active

    audit = technician_admin.get(reverse("admin:operations_emergencystop_change", args=[stop.pk]))
    assert audit.status_code == 200 and "ES-ADM-2" in audit.content.decode()

    release = {"action": "emergency_release", "_selected_action": [site.pk]}
    assert "2 connectors" not in technician_admin.post(changelist, release).content.decode()
    technician_admin.post(changelist, {**release, "post": "yes"})
    stop.refresh_from_db()
    assert not stop.is_active


@pytest.mark.django_db
def test_the_emergency_actions_need_the_stop_site_permission(make_user):
    client = Client()
    client.force_login(make_user("stations.view_site", "stations.change_site", is_staff=True))
    page = client.get(reverse("admin:stations_site_changelist")).content.decode()
    assert "emergency_stop" not in page


@pytest.mark.django_db
def test_technicians_and_operator_admins_may_stop_a_site():
    roles.set_up_roles()
    for role in roles.ROLES:
        user = User.objects.create_user(f"{role.name}@example.com", "pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role.name))
        may_stop = role in (roles.TECHNICIAN, roles.OPERATOR_ADMIN)
        assert user.has_perm("operations.stop_site") == may_stop, role.name


@pytest.mark.django_db
def test_the_stop_in_force_is_found_by_its_sql_built_once_as_the_orm_finds_it():
    # charge_point_refusal runs SQL built once (STOP_IN_FORCE): its answer for each
    # charger must be the ORM's, before, during and after a stop.
    def by_orm(cp: ChargePoint) -> bool:
        stops = EmergencyStop.objects.filter(site__charge_points=cp.pk, released_at__isnull=True)
        return stops.exists()

    stopped, other = _site("Stoppad", "CP-ORM-1"), _site("Annan", "CP-ORM-2")
    alone = ChargePoint.objects.create(charge_point_id="CP-ORM-3")
    chargers = [*stopped.charge_points.all(), *other.charge_points.all(), alone]
    stop = EmergencyStop.objects.create(site=stopped, reason="test")
    for released in (None, stop.started_at):
        EmergencyStop.objects.filter(pk=stop.pk).update(released_at=released)
        answers = [emergency.charge_point_refusal(cp) is not None for cp in chargers]
        assert answers == [by_orm(cp) for cp in chargers]
        assert answers[0] == (released is None)
