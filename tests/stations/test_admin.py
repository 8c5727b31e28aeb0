"""The stations back office: every page renders, every command action reaches a charger
held by the live server and shows the charger's answer per charge point."""

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django import forms
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from ocpp.exceptions import NotSupportedError

from stations.charger_auth import MIN_PASSWORD_LENGTH
from stations.models import (
    ChargePoint,
    ChargerCommand,
    ChargingSession,
    CommandBatch,
    Connector,
    MeterSample,
    OcppMessage,
    OpeningHours,
    Reservation,
    Site,
    StatusEvent,
)
from tests.conftest import register
from users.models import IdToken, User


@pytest.fixture
def staff(db_access: None) -> tuple[User, Client]:
    """A logged-in superuser and their browser."""
    user = User.objects.create_superuser(email="staff@example.com", password="x" * 20)
    client = Client()
    client.force_login(user)
    return user, client


def changelist(model: str) -> str:
    return reverse(f"admin:stations_{model}_changelist")


async def run_action(
    client: Client, model: str, action: str, objects: list[Any], **form: Any
) -> tuple[Any, list[tuple[str, str]]]:
    """Choose an admin action for `objects`; with `form`, also submit its parameter page.

    Returns the final response and its messages as (level, text).
    """
    data: dict[str, Any] = {"action": action, "_selected_action": [o.pk for o in objects]}
    if form:
        data |= {"post": "yes", **form}
    response = await sync_to_async(client.post)(changelist(model), data, follow=True)
    assert response.status_code == 200
    shown = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    return response, shown


def _charge_point(charge_point_id: str) -> ChargePoint:
    return ChargePoint.objects.get(charge_point_id=charge_point_id)


# --- Pages ---------------------------------------------------------------------------------


def test_every_stations_admin_page_renders(staff):
    _, client = staff
    site = Site.objects.create(name="Depot")
    charge_point = register("ADM-PAGES", site=site, vendor="ChargeHub", model="Sim-22")
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    now = datetime.now(UTC)
    session = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="TAG-1",
        started_at=now,
        meter_start_wh=0,
    )
    MeterSample.objects.create(
        charge_point=charge_point, connector_id=1, session=session, timestamp=now, value="12"
    )
    StatusEvent.objects.create(connector=connector, status="Charging", timestamp=now)
    OcppMessage.objects.create(
        charge_point_id="ADM-PAGES", direction="in", message_type=2, action="Heartbeat", frame="[]"
    )
    ChargerCommand.objects.create(charge_point=charge_point, action="Reset", source="admin")
    Reservation.objects.create(
        charge_point=charge_point, connector_id=1, id_tag="TAG-1", expires_at=now
    )

    for model in [
        "site",
        "chargepoint",
        "chargingsession",
        "metersample",
        "statusevent",
        "ocppmessage",
        "chargercommand",
        "reservation",
    ]:
        response = client.get(changelist(model))
        assert response.status_code == 200, model
        assert "ADM-PAGES" in response.content.decode() or model == "site", model

    assert client.get(changelist("chargepoint"), {"q": "ADM-PAGES"}).status_code == 200
    assert client.get(changelist("ocppmessage"), {"q": "Heartbeat"}).status_code == 200
    assert client.get(changelist("chargingsession"), {"status__exact": "active"}).status_code == 200
    charge_point_page = client.get(
        reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
    )
    assert charge_point_page.status_code == 200
    assert "Connector" in charge_point_page.content.decode()
    session_page = client.get(reverse("admin:stations_chargingsession_change", args=[session.pk]))
    assert session_page.status_code == 200
    assert "Energy.Active.Import.Register" in session_page.content.decode()
    assert client.get(reverse("admin:stations_chargepoint_add")).status_code == 200


def tables_read(client: Client, url: str) -> list[str]:
    """The table each statement of a page's load reads first (its FROM), in order."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [re.search(r' FROM "(\w+)"', q["sql"])[1] for q in queries.captured_queries]


def session_at(charge_point_id: str, **fields: Any) -> ChargingSession:
    """A session on connector 1 of a new charger (`fields` for the charger: site)."""
    charge_point = register(charge_point_id, **fields)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    return ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="T",
        started_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        meter_start_wh=0,
    )


def test_charger_page_reads_as_many_tables_with_eight_connectors_as_with_two(staff):
    """Each connector row is named by its charger: read with the rows, not once a row
    (the page's time: bench/big_tables.py)."""
    _, client = staff
    pages = {}
    for charge_point_id, connectors in [("ADM-TWO", 2), ("ADM-EIGHT", 8)]:
        charge_point = register(charge_point_id)
        for n in range(1, connectors + 1):
            Connector.objects.create(charge_point=charge_point, connector_id=n)
        pages[connectors] = reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
        client.get(pages[connectors])  # the session's and the user's first reads

    assert tables_read(client, pages[8]) == tables_read(client, pages[2])
    assert "ADM-EIGHT#8" in client.get(pages[8]).content.decode()


def test_charger_and_session_lists_read_as_many_tables_for_three_rows_as_for_one(staff):
    """Each row's site, local list, connectors, charger and connector come with the rows."""
    _, client = staff
    site = Site.objects.create(name="Depot")
    for charge_point_id in ["ADM-ROW-1", "ADM-ROW-2", "ADM-ROW-3"]:
        session_at(charge_point_id, site=site)
    for model in ["chargepoint", "chargingsession"]:
        client.get(changelist(model))
        one = tables_read(client, changelist(model) + "?q=ADM-ROW-1")
        assert tables_read(client, changelist(model) + "?q=ADM-ROW") == one, model


def test_session_page_reads_the_session_its_charger_connector_and_card_in_one_query(staff):
    """The page names the charger, the connector and the card, and prices by the site's
    zone and the card's owner: all from the page's one read of the session."""
    _, client = staff
    session = session_at("ADM-SESSION", site=Site.objects.create(name="Depot"))
    owner = User.objects.create_user(email="driver@example.com", password="x" * 20)
    session.id_token = IdToken.objects.create(uid="CARD-1", owner=owner)
    session.id_tag = "CARD-1"
    session.save()
    url = reverse("admin:stations_chargingsession_change", args=[session.pk])
    client.get(url)

    tables = tables_read(client, url)

    assert tables.count("stations_chargingsession") == 1
    for table in ["stations_chargepoint", "stations_connector", "stations_site", "users_idtoken"]:
        assert table not in tables
    page = client.get(url).content.decode()
    assert "ADM-SESSION#1" in page and "CARD-1" in page


def test_charger_and_session_pages_are_drawn_without_the_navigation_sidebar(staff):
    """Wide pages, as the uptime report: the sidebar listed every app's models again on
    each load (7 ms of CPU, 29 kB). Other pages keep it."""
    _, client = staff
    site = Site.objects.create(name="Depot")
    session = session_at("ADM-WIDE", site=site)
    for url in [
        reverse("admin:stations_chargepoint_change", args=[session.charge_point_id]),
        reverse("admin:stations_chargingsession_change", args=[session.pk]),
    ]:
        page = client.get(url).content.decode()
        assert 'id="nav-sidebar"' not in page and "ADM-WIDE" in page, url
    site_page = client.get(reverse("admin:stations_site_change", args=[site.pk]))
    assert 'id="nav-sidebar"' in site_page.content.decode()


def test_session_page_lists_its_samples_in_time_order_with_what_the_charger_sent_escaped(staff):
    _, client = staff
    session = session_at("ADM-SAMPLES")
    for minutes, value, unit in [(2, "<b>2</b>", "Wh"), (1, "1", "W&h")]:
        MeterSample.objects.create(
            charge_point=session.charge_point,
            connector_id=1,
            session=session,
            timestamp=session.started_at + timedelta(minutes=minutes),
            value=value,
            unit=unit,
            clock_suspect=minutes == 2,
        )

    page = client.get(reverse("admin:stations_chargingsession_change", args=[session.pk]))

    table = page.content.decode().split("<th>clock suspect</th>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    assert [re.findall(r"<td>(.*?)</td>", row) for row in rows] == [
        [
            "2026-12-07 11:01:00 CET",
            "Energy.Active.Import.Register",
            "",
            "Sample.Periodic",
            "1",
            "W&amp;h",
            "",
        ],
        [
            "2026-12-07 11:02:00 CET",
            "Energy.Active.Import.Register",
            "",
            "Sample.Periodic",
            "&lt;b&gt;2&lt;/b&gt;",
            "Wh",
            "yes",
        ],
    ]


def test_charge_point_added_with_a_short_password_gets_a_form_error(staff):
    _, client = staff
    add = reverse("admin:stations_chargepoint_add")
    form = {
        "charge_point_id": "ADM-NEW",
        "registration_status": "Accepted",
        "heartbeat_interval": 300,
        "connectors-TOTAL_FORMS": 0,
        "phases": 3,
        "first_phase": 1,
        "security_profile": 1,
        "connectors-INITIAL_FORMS": 0,
    }
    response = client.post(add, {**form, "new_password": "short"})
    assert response.status_code == 200
    assert "at least 16 characters" in response.content.decode()
    assert not ChargePoint.objects.filter(charge_point_id="ADM-NEW").exists()

    response = client.post(add, {**form, "new_password": "a-long-enough-password"})
    assert response.status_code == 302
    assert _charge_point("ADM-NEW").check_password("a-long-enough-password")


def test_approve_pending_accepts_only_pending_charge_points(staff):
    _, client = staff
    pending = register("ADM-PENDING", registration_status="Pending")
    rejected = register("ADM-REJECTED", registration_status="Rejected")
    response = client.post(
        changelist("chargepoint"),
        {"action": "approve_pending", "_selected_action": [pending.pk, rejected.pk]},
        follow=True,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["1 charge point(s) approved."]
    assert _charge_point("ADM-PENDING").registration_status == "Accepted"
    assert _charge_point("ADM-REJECTED").registration_status == "Rejected"


def test_charge_point_add_form_offers_a_generated_password_the_charger_gets(staff):
    _, client = staff
    add = reverse("admin:stations_chargepoint_add")
    page = client.get(add)
    generated = page.context["adminform"].form["new_password"].value()
    assert len(generated) >= MIN_PASSWORD_LENGTH
    assert generated in page.content.decode()  # shown once, to copy into the charger

    form = {
        "charge_point_id": "ADM-GEN",
        "registration_status": "Accepted",
        "heartbeat_interval": 300,
        "new_password": generated,
        "connectors-TOTAL_FORMS": 0,
        "phases": 3,
        "first_phase": 1,
        "security_profile": 1,
        "connectors-INITIAL_FORMS": 0,
    }
    added = client.post(add, form, follow=True)
    assert _charge_point("ADM-GEN").check_password(generated)
    # Once, after adding: everything to configure the charger with.
    shown = [str(message) for message in added.context["messages"]]
    assert any("ws://testserver/ocpp/ADM-GEN" in text and generated in text for text in shown), (
        shown
    )
    again = client.get(
        reverse("admin:stations_chargepoint_change", args=[_charge_point("ADM-GEN").pk])
    )
    assert generated not in again.content.decode()


def test_charge_point_accepted_without_password_in_admin_gets_a_form_error(staff):
    _, client = staff
    add = reverse("admin:stations_chargepoint_add")
    form = {
        "charge_point_id": "ADM-NOPW",
        "registration_status": "Accepted",
        "heartbeat_interval": 300,
        "new_password": "",
        "connectors-TOTAL_FORMS": 0,
        "phases": 3,
        "first_phase": 1,
        "security_profile": 1,
        "connectors-INITIAL_FORMS": 0,
    }
    response = client.post(add, form)
    assert response.status_code == 200
    assert "An accepted charger needs a password" in response.content.decode()
    assert not ChargePoint.objects.filter(charge_point_id="ADM-NOPW").exists()


def test_pending_charger_without_password_is_accepted_in_admin_once_given_one(staff):
    _, client = staff
    pending = register("ADM-TOFU", password=None, registration_status="Pending")
    change = reverse("admin:stations_chargepoint_change", args=[pending.pk])
    form = {
        "charge_point_id": "ADM-TOFU",
        "registration_status": "Accepted",
        "heartbeat_interval": 300,
        "connectors-TOTAL_FORMS": 0,
        "phases": 3,
        "first_phase": 1,
        "security_profile": 1,
        "connectors-INITIAL_FORMS": 0,
    }

    response = client.post(change, {**form, "new_password": ""})
    assert "An accepted charger needs a password" in response.content.decode()
    assert _charge_point("ADM-TOFU").registration_status == "Pending"

    response = client.post(change, {**form, "new_password": "a-long-enough-password"})
    assert response.status_code == 302
    accepted = _charge_point("ADM-TOFU")
    assert accepted.registration_status == "Accepted"
    assert accepted.check_password("a-long-enough-password")


def test_approve_action_leaves_a_charger_without_password_pending_with_an_error(staff):
    _, client = staff
    with_password = register("ADM-PENDING-PW", registration_status="Pending")
    without = register("ADM-PENDING-NOPW", password=None, registration_status="Pending")
    response = client.post(
        changelist("chargepoint"),
        {"action": "approve_pending", "_selected_action": [with_password.pk, without.pk]},
        follow=True,
    )
    shown = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert (
        "error",
        "ADM-PENDING-NOPW was not approved: it has no password. Open it, set a "
        "password (and configure the charger with it), then accept it.",
    ) in shown
    assert ("success", "1 charge point(s) approved.") in shown
    assert _charge_point("ADM-PENDING-PW").registration_status == "Accepted"
    assert _charge_point("ADM-PENDING-NOPW").registration_status == "Pending"


def test_security_profile_0_is_allowed_in_admin_with_a_warning(staff):
    _, client = staff
    add = reverse("admin:stations_chargepoint_add")
    form = {
        "charge_point_id": "ADM-BENCH",
        "registration_status": "Accepted",
        "heartbeat_interval": 300,
        "new_password": "",
        "allow_unauthenticated": "on",
        "connectors-TOTAL_FORMS": 0,
        "phases": 3,
        "first_phase": 1,
        "security_profile": 1,
        "connectors-INITIAL_FORMS": 0,
    }
    response = client.post(add, form, follow=True)
    warning = "ADM-BENCH connects without authentication (security profile 0)"
    assert [m for m in get_messages(response.wsgi_request) if warning in str(m)]
    bench = _charge_point("ADM-BENCH")
    assert bench.allow_unauthenticated and not bench.password_hash
    page = client.get(reverse("admin:stations_chargepoint_change", args=[bench.pk]))
    assert warning in page.content.decode()


# --- Commands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "form", "sent", "shown"),
    [
        ("reset", {"type": "Hard"}, ("Reset", {"type": "Hard"}), "Accepted"),
        (
            "unlock_connector",
            {"connector_id": "2"},
            ("UnlockConnector", {"connector_id": 2}),
            "Unlocked",
        ),
        (
            "change_availability",
            {"connector_id": "0", "type": "Inoperative"},
            ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}),
            "Accepted",
        ),
        (
            "change_availability",
            {"connector_id": "1", "type": "Operative"},
            ("ChangeAvailability", {"connector_id": 1, "type": "Operative"}),
            "Accepted",
        ),
        (
            "remote_start",
            {"id_tag": "TAG-1", "connector_id": "1"},
            ("RemoteStartTransaction", {"id_tag": "TAG-1", "connector_id": 1}),
            "Accepted",
        ),
        (
            "remote_start",
            {"id_tag": "TAG-1", "connector_id": ""},
            ("RemoteStartTransaction", {"id_tag": "TAG-1"}),
            "Accepted",
        ),
        (
            "change_configuration",
            {"key": "HeartbeatInterval", "value": "120"},
            ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}),
            "Accepted",
        ),
        (
            "trigger_message",
            {"requested_message": "StatusNotification", "connector_id": "1"},
            ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
            "Accepted",
        ),
        ("get_configuration", {}, ("GetConfiguration", {}), "2 configuration keys read"),
        (
            "get_composite_schedule",
            {"connector_id": "1", "duration": "3600"},
            (
                "GetCompositeSchedule",
                {"connector_id": 1, "duration": 3600, "charging_rate_unit": "A"},
            ),
            "Accepted: 16 A from 0 s",
        ),
    ],
    ids=[
        "reset",
        "unlock_connector",
        "change_availability-inoperative",
        "change_availability-operative",
        "remote_start",
        "remote_start-any-connector",
        "change_configuration",
        "trigger_message",
        "get_configuration",
        "get_composite_schedule",
    ],
)
async def test_admin_action_reaches_the_charger_and_shows_its_answer(
    charger, staff, action, form, sent, shown, request
):
    user, client = staff
    cp_id = f"ADM-{request.node.callspec.id}"[:48]
    async with charger(cp_id) as cp:
        await cp.boot()
        charge_point = await sync_to_async(_charge_point)(cp_id)
        if form:
            page, _ = await run_action(client, "chargepoint", action, [charge_point])
            assert 'name="post"' in page.content.decode()  # the parameter page
            assert cp.received == []
        _, messages = await run_action(client, "chargepoint", action, [charge_point], **form)
    assert cp.received == [sent]
    assert messages == [("success", f"{cp_id}: {shown}")]
    command = await sync_to_async(ChargerCommand.objects.get)(charge_point=charge_point)
    assert (command.issued_by_id, command.source, command.status) == (user.pk, "admin", "answered")


async def test_get_configuration_action_stores_the_configuration(charger, staff):
    _, client = staff
    async with charger("ADM-CONFIG") as cp:
        await cp.boot()
        charge_point = await sync_to_async(_charge_point)("ADM-CONFIG")
        await run_action(client, "chargepoint", "get_configuration", [charge_point])
    stored = await sync_to_async(_charge_point)("ADM-CONFIG")
    assert stored.configuration["NumberOfConnectors"] == {"value": "2", "readonly": True}


async def test_command_to_several_chargers_runs_as_a_batch_with_a_progress_page(
    charger, staff, settings
):
    """Each charger's outcome on its own row: one that is offline, one that stays silent
    (its own timeout, nobody else's) and one that answers."""
    settings.OCPP_COMMAND_TIMEOUT = 1
    _, client = staff
    offline = await sync_to_async(register)("ADM-OFFLINE")
    async with charger("ADM-ONLINE") as cp, charger("ADM-SILENT") as silent:
        await cp.boot()
        await silent.boot()
        silent.answers["Reset"] = "silence"
        online, quiet = [
            await sync_to_async(_charge_point)(cp_id) for cp_id in ("ADM-ONLINE", "ADM-SILENT")
        ]
        page, _ = await run_action(
            client, "chargepoint", "reset", [online, offline, quiet], type="Soft"
        )
    # The background task runs inline under the tests' eager Celery, so the page that
    # follows the redirect already shows every outcome.
    batch = await sync_to_async(CommandBatch.objects.get)()
    assert page.redirect_chain[-1][0] == reverse(
        "admin:stations_commandbatch_change", args=[batch.pk]
    )
    progress = await sync_to_async(client.get)(
        reverse("admin:stations_commandbatch_progress", args=[batch.pk])
    )
    rows = {
        item["charge_point"]: (item["status"], item["message"]) for item in progress.json()["items"]
    }
    assert rows == {
        "ADM-OFFLINE": ("offline", "The charger is offline right now."),
        "ADM-ONLINE": ("done", "Accepted"),
        "ADM-SILENT": ("timeout", "The charger did not answer in time."),
    }
    assert progress.json()["finished"]
    html = page.content.decode()
    assert "ADM-SILENT" in html and "Timed out" in html
    assert cp.received == [("Reset", {"type": "Soft"})]


async def test_answer_other_than_accepted_is_shown_as_a_warning(charger, staff):
    _, client = staff
    async with charger("ADM-REJECTS") as cp:
        await cp.boot()
        cp.answers["ChangeConfiguration"] = {"status": "NotSupported"}
        charge_point = await sync_to_async(_charge_point)("ADM-REJECTS")
        _, messages = await run_action(
            client, "chargepoint", "change_configuration", [charge_point], key="Foo", value="1"
        )
    assert messages == [("warning", "ADM-REJECTS: NotSupported")]


async def test_callerror_answer_is_shown_with_its_code(charger, staff):
    _, client = staff
    async with charger("ADM-CALLERROR") as cp:
        await cp.boot()
        cp.answers["UnlockConnector"] = NotSupportedError("No locking cable")
        charge_point = await sync_to_async(_charge_point)("ADM-CALLERROR")
        _, messages = await run_action(
            client, "chargepoint", "unlock_connector", [charge_point], connector_id="1"
        )
    assert messages == [
        (
            "error",
            "ADM-CALLERROR: The charger answered with an error: NotSupported No locking cable.",
        )
    ]


@pytest.mark.parametrize(
    ("action", "form", "error"),
    [
        ("remote_start", {"id_tag": "T" * 21, "connector_id": "1"}, "at most 20 characters"),
        ("remote_start", {"id_tag": "", "connector_id": "1"}, "This field is required"),
        ("unlock_connector", {"connector_id": "0"}, "greater than or equal to 1"),
        ("change_availability", {"connector_id": "1", "type": "Sideways"}, "Select a valid choice"),
        ("change_configuration", {"key": "K" * 51, "value": "1"}, "at most 50 characters"),
        ("trigger_message", {"requested_message": "Everything"}, "Select a valid choice"),
        ("reset", {"type": "Gentle"}, "Select a valid choice"),
    ],
    ids=[
        "remote_start-id_tag-too-long",
        "remote_start-id_tag-missing",
        "unlock_connector-connector-0",
        "change_availability-unknown-type",
        "change_configuration-key-too-long",
        "trigger_message-unknown-message",
        "reset-unknown-type",
    ],
)
async def test_command_form_with_bad_input_shows_a_form_error_and_sends_nothing(
    charger, staff, action, form, error
):
    _, client = staff
    async with charger("ADM-BAD-FORM") as cp:
        await cp.boot()
        charge_point = await sync_to_async(_charge_point)("ADM-BAD-FORM")
        page, messages = await run_action(client, "chargepoint", action, [charge_point], **form)
    assert error in page.content.decode()
    assert messages == []
    assert cp.received == []
    assert not await sync_to_async(ChargerCommand.objects.exists)()


async def test_remote_stop_action_on_a_session_reaches_its_charger(charger, staff):
    user, client = staff
    async with charger("ADM-STOP") as cp:
        await cp.boot()
        charge_point = await sync_to_async(_charge_point)("ADM-STOP")
        connector = await sync_to_async(Connector.objects.create)(
            charge_point=charge_point, connector_id=1
        )
        session = await sync_to_async(ChargingSession.objects.create)(
            charge_point=charge_point,
            connector=connector,
            id_tag="TAG-1",
            started_at=datetime.now(UTC),
            meter_start_wh=0,
        )
        _, messages = await run_action(client, "chargingsession", "remote_stop", [session])
    assert cp.received == [("RemoteStopTransaction", {"transaction_id": session.pk})]
    assert messages == [("success", f"ADM-STOP #{session.pk}: Accepted")]
    command = await sync_to_async(ChargerCommand.objects.get)(charge_point=charge_point)
    assert (command.issued_by_id, command.source) == (user.pk, "admin")


async def test_remote_stop_of_a_completed_session_is_refused_unsent(charger, staff):
    _, client = staff
    async with charger("ADM-STOP-DONE") as cp:
        await cp.boot()
        charge_point = await sync_to_async(_charge_point)("ADM-STOP-DONE")
        connector = await sync_to_async(Connector.objects.create)(
            charge_point=charge_point, connector_id=1
        )
        session = await sync_to_async(ChargingSession.objects.create)(
            charge_point=charge_point,
            connector=connector,
            id_tag="TAG-1",
            started_at=datetime.now(UTC),
            meter_start_wh=0,
            status=ChargingSession.Status.COMPLETED,
        )
        _, messages = await run_action(client, "chargingsession", "remote_stop", [session])
    assert messages == [
        (
            "error",
            f"ADM-STOP-DONE #{session.pk}: "
            f"This cannot be asked of the charger: Session #{session.pk} is not active",
        )
    ]
    assert cp.received == []


async def test_cancel_reservation_action_cancels_it_on_the_charger(charger, staff):
    _, client = staff
    async with charger("ADM-RESERVED") as cp:
        await cp.boot()
        charge_point = await sync_to_async(_charge_point)("ADM-RESERVED")
        reservation = await sync_to_async(Reservation.objects.create)(
            charge_point=charge_point,
            connector_id=1,
            id_tag="TAG-1",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            status=Reservation.Status.ACCEPTED,
        )
        _, messages = await run_action(client, "reservation", "cancel", [reservation])
    assert cp.received == [("CancelReservation", {"reservation_id": reservation.pk})]
    assert messages == [("success", f"ADM-RESERVED #{reservation.pk}: Accepted")]
    stored = await sync_to_async(Reservation.objects.get)(pk=reservation.pk)
    assert stored.status == Reservation.Status.CANCELLED


# --- Lists staff read at a glance -----------------------------------------------------------


def test_ocpp_log_names_message_types_shows_milliseconds_and_links_a_call_to_its_answer(staff):
    _, client = staff
    at = timezone.now().replace(microsecond=123_456)
    for message_type in (2, 3):
        OcppMessage.objects.create(
            charge_point_id="ADM-LOG",
            direction="in" if message_type == 2 else "out",
            message_type=message_type,
            unique_id="abc-1",
            action="Heartbeat",
            frame="[]",
            created_at=at,
        )
    # The charger uses the id again a week later (after a reboot, say): another pair.
    OcppMessage.objects.create(
        charge_point_id="ADM-LOG",
        direction="in",
        message_type=2,
        unique_id="abc-1",
        action="Heartbeat",
        frame="[]",
        created_at=at + timedelta(days=7),
    )
    page = client.get(changelist("ocppmessage"))
    html = page.content.decode()
    assert "CALLRESULT" in html and ">CALL<" in html
    assert timezone.localtime(at).strftime("%H:%M:%S.123") in html
    assert "?charge_point_id=ADM-LOG&amp;unique_id=abc-1&amp;created_at__gte=" in html

    # The link of the first pair: the call and its answer, not the later reuse.
    link = next(row for row in page.context["cl"].result_list if row.created_at == at)
    url = page.context["cl"].model_admin.call_and_answer(link).split('"')[1]
    pair = client.get(url.replace("&amp;", "&"))
    assert [row.created_at for row in pair.context["cl"].result_list] == [at, at]


def log_rows(
    count: int, charge_point_id: str = "ADM-PAGER", action: str = "Heartbeat"
) -> list[datetime]:
    """`count` frames one second apart up to now; returns their times, newest first."""
    now = timezone.now()
    times = [now - timedelta(seconds=n) for n in range(count)]
    OcppMessage.objects.bulk_create(
        OcppMessage(
            charge_point_id=charge_point_id,
            direction="in",
            message_type=2,
            unique_id=f"id-{n}",
            action=action,
            frame="[]",
            created_at=at,
        )
        for n, at in enumerate(times)
    )
    return times


def test_message_log_pages_without_counting_the_whole_log(staff):
    """The log counts only as far as the pager looks ahead (chargehub/admin_fields.py
    LookaheadPaginator): 1,000 rows on the first pages, then 5 pages past the one shown."""
    _, client = staff
    times = log_rows(1_150)

    first = client.get(changelist("ocppmessage"))
    assert [row.created_at for row in first.context["cl"].result_list] == times[:100]
    assert "More than 1000 in OCPP message log" in first.content.decode()
    assert "?p=2" in first.content.decode()

    # Page 11 looks 5 pages ahead: the whole 1,150 are counted, and its last 50 shown.
    last = client.get(changelist("ocppmessage"), {"p": 12})
    assert [row.created_at for row in last.context["cl"].result_list] == times[1_100:]
    assert "1150 OCPP message log" in last.content.decode()
    assert "More than" not in last.content.decode()

    # A page number past any database integer is a page past the end, not a 500.
    assert client.get(changelist("ocppmessage"), {"p": 10**20}).status_code in {200, 302}


def test_message_log_filters_by_charger_action_errors_and_time(staff):
    _, client = staff
    mine = log_rows(150, "ADM-MINE")
    log_rows(30, "ADM-OTHER")
    boots = log_rows(3, "ADM-OTHER", action="BootNotification")
    OcppMessage.objects.create(
        charge_point_id="ADM-OTHER", direction="out", message_type=4, action="", frame="[]"
    )

    def shown(**query: Any) -> list[OcppMessage]:
        page = client.get(changelist("ocppmessage"), query)
        assert page.status_code == 200
        return list(page.context["cl"].result_list)

    assert [row.created_at for row in shown(charge_point_id="ADM-MINE")] == mine[:100]
    assert [row.created_at for row in shown(charge_point_id="ADM-MINE", p=2)] == mine[100:]
    assert [row.created_at for row in shown(action="BootNotification")] == boots
    assert [row.message_type for row in shown(message_type__exact=4)] == [4]
    window = shown(
        charge_point_id="ADM-MINE",
        created_at__gte=mine[20].isoformat(),
        created_at__lte=mine[10].isoformat(),
    )
    assert [row.created_at for row in window] == mine[10:21]


def test_message_log_search_matches_a_charger_an_action_or_a_message_id_exactly(staff):
    _, client = staff
    log_rows(3, "ADM-SEARCH")
    log_rows(2, "ADM-ELSEWHERE", action="StatusNotification")

    def found(**query: Any) -> set[tuple[str, str]]:
        page = client.get(changelist("ocppmessage"), query)
        assert page.status_code == 200
        return {(row.charge_point_id, row.unique_id) for row in page.context["cl"].result_list}

    assert found(q="ADM-SEARCH") == {("ADM-SEARCH", f"id-{n}") for n in range(3)}
    assert found(q=" StatusNotification ") == {("ADM-ELSEWHERE", "id-0"), ("ADM-ELSEWHERE", "id-1")}
    # A message id is the charger's (OCPP-J §4.1.4): found in one charger's list.
    assert found(q="id-1", charge_point_id="ADM-SEARCH") == {("ADM-SEARCH", "id-1")}
    assert found(q="id-1") == set()
    assert found(q="ADM-SEAR") == set()  # exact: no substring search over the log
    page = client.get(changelist("ocppmessage"))
    assert "A charger&#x27;s id or an OCPP action, exactly" in page.content.decode()


def test_meter_sample_list_finds_a_sessions_or_a_chargers_samples_newest_first(staff):
    _, client = staff
    charge_point = ChargePoint.objects.create(charge_point_id="ADM-SAMPLES")
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    now = timezone.now()
    session = ChargingSession.objects.create(
        charge_point=charge_point, connector=connector, id_tag="T", started_at=now, meter_start_wh=0
    )
    for minutes in range(3):
        MeterSample.objects.create(
            charge_point=charge_point,
            connector_id=1,
            session=session if minutes else None,
            timestamp=now + timedelta(minutes=minutes),
            value=str(minutes),
        )

    def values(**query: Any) -> list[str]:
        page = client.get(changelist("metersample"), query)
        assert page.status_code == 200
        return [sample.value for sample in page.context["cl"].result_list]

    assert values(q=str(session.pk)) == ["2", "1"]
    assert values(q="ADM-SAMPLES") == ["2", "1", "0"]
    assert values(q="ADM-SAMPLES", measurand="Energy.Active.Import.Register") == ["2", "1", "0"]
    assert values(q="ADM-SAMPLES", measurand="SoC") == []
    assert values(q="ADM-OTHER") == []
    # Digits that are no session number are a charger's id to look for, never a 500.
    assert values(q="²") == []
    assert values(q="9" * 30) == []


def test_charge_point_list_tells_online_dropped_off_and_never_connected_apart(staff):
    _, client = staff
    now = timezone.now()
    online = register("ADM-ONLINE", is_connected=True, connected_at=now, last_seen_at=now)
    Connector.objects.create(
        charge_point=online, connector_id=1, status="Charging", status_at=now - timedelta(days=2)
    )
    register(
        "ADM-DROPPED",
        connected_at=now - timedelta(days=1),
        disconnected_at=now - timedelta(days=1),
    )
    register("ADM-NEVER")

    page = client.get(changelist("chargepoint"))
    html = page.content.decode()
    assert "Never connected" in html and "Offline since" in html and "Online" in html
    assert "#1 Charging since" in html

    def listed(connection: str) -> list[str]:
        response = client.get(changelist("chargepoint"), {"connection": connection})
        return [cp.charge_point_id for cp in response.context["cl"].result_list]

    assert listed("online") == ["ADM-ONLINE"]
    assert listed("dropped") == ["ADM-DROPPED"]
    assert listed("never") == ["ADM-NEVER"]


def test_opening_hours_are_plain_local_times_without_the_browser_offset_note(staff):
    _, client = staff
    site = Site.objects.create(name="ADM Hours", open_24_7=False)
    OpeningHours.objects.create(site=site, weekday=1, opens=time(7), closes=time(19))
    page = client.get(reverse("admin:stations_site_change", args=[site.pk]))
    form = page.context["inline_admin_formsets"][0].formset.forms[0]
    assert type(form.fields["opens"].widget) is forms.TimeInput
    assert 'value="07:00"' in page.content.decode()
