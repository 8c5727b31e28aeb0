"""Planned maintenance windows (operations/maintenance.py): a simulated 1.6 charger over a
real WebSocket is made Inoperative at the start and Operative after the end; one that was
offline gets what it missed when it boots; drivers see until when; staff get form errors."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from operations import availability, maintenance
from operations.models import EmergencyStop, MaintenanceWindow
from stations.models import ChargePoint, ChargerCommand, Site
from tests.conftest import eventually, register
from tests.portal.places import place

INOPERATIVE = ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"})
OPERATIVE = ("ChangeAvailability", {"connector_id": 0, "type": "Operative"})


def _site(name: str) -> Site:
    return Site.objects.create(name=name)


def _window(*, site=None, charge_point=None, starts=-1, ends=60) -> MaintenanceWindow:
    """A window from `starts` to `ends` minutes from now."""
    now = timezone.now()
    return MaintenanceWindow.objects.create(
        site=site,
        charge_point=charge_point,
        starts_at=now + timedelta(minutes=starts),
        ends_at=now + timedelta(minutes=ends),
        reason="New cables",
    )


def _end_now(window: MaintenanceWindow) -> None:
    MaintenanceWindow.objects.filter(pk=window.pk).update(ends_at=timezone.now())


def _fresh(window: MaintenanceWindow) -> MaintenanceWindow:
    return MaintenanceWindow.objects.get(pk=window.pk)


def _availability_commands(charge_point_id: str) -> list[tuple[str, str]]:
    return list(
        ChargerCommand.objects.filter(
            charge_point__charge_point_id=charge_point_id, action="ChangeAvailability"
        )
        .order_by("pk")
        .values_list("payload__type", "status")
    )


async def test_a_window_makes_the_charger_inoperative_at_its_start_and_operative_after_its_end(
    charger,
):
    site = await sync_to_async(_site)("Maintained site")
    async with charger("MAINT-1", site=site) as cp:
        await cp.boot()
        # Planned for later: the charger's boot finds nothing to be told. The beat's runs
        # are given their time (`now`) instead of waiting for it.
        window = await sync_to_async(_window)(site=site, starts=60, ends=120)
        assert (await sync_to_async(maintenance.run)()).applied == {}

        at_start = window.starts_at + timedelta(seconds=30)
        run = await sync_to_async(maintenance.run)(at_start)
        assert run.applied == {window.pk: {"MAINT-1": "Accepted"}}
        assert cp.received == [INOPERATIVE]
        assert (await sync_to_async(_fresh)(window)).applied_at == at_start

        # The beat runs every minute: nothing is sent twice.
        again = await sync_to_async(maintenance.run)(at_start + timedelta(minutes=1))
        assert again.applied == {} and again.released == {}
        assert cp.received == [INOPERATIVE]

        after_end = window.ends_at + timedelta(seconds=30)
        run = await sync_to_async(maintenance.run)(after_end)
        assert run.released == {window.pk: {"MAINT-1": "Accepted"}}
        assert cp.received == [INOPERATIVE, OPERATIVE]
        assert (await sync_to_async(_fresh)(window)).released_at == after_end
        assert (await sync_to_async(maintenance.run)(after_end)).released == {}

    commands = await sync_to_async(_availability_commands)("MAINT-1")
    assert commands == [("Inoperative", "answered"), ("Operative", "answered")]


async def test_a_charger_offline_at_the_start_and_the_end_gets_each_when_it_boots(charger):
    site = await sync_to_async(_site)("Offline maintenance")
    await sync_to_async(register)("MAINT-LATE", site=site)
    window = await sync_to_async(_window)(site=site)
    run = await sync_to_async(maintenance.run)()
    assert run.applied == {window.pk: {"MAINT-LATE": "MAINT-LATE is not connected"}}

    async with charger("MAINT-LATE") as cp:
        await cp.boot()
        assert await eventually(lambda: cp.received == [INOPERATIVE])
        assert await eventually(lambda: len(_availability_commands("MAINT-LATE")) == 2)
    await eventually(lambda: not ChargePoint.objects.get(charge_point_id="MAINT-LATE").is_connected)

    await sync_to_async(_end_now)(window)
    run = await sync_to_async(maintenance.run)()
    assert run.released == {window.pk: {"MAINT-LATE": "MAINT-LATE is not connected"}}

    async with charger("MAINT-LATE") as cp:
        await cp.boot()
        assert await eventually(lambda: cp.received == [OPERATIVE])
        # The answer is recorded once the server has read it: wait for it, not for the row.
        expected = [
            ("Inoperative", "offline"),
            ("Inoperative", "answered"),
            ("Operative", "offline"),
            ("Operative", "answered"),
        ]
        assert await eventually(lambda: _availability_commands("MAINT-LATE") == expected)


def _claim(window: MaintenanceWindow, **times: datetime) -> None:
    """What a worker that claimed a start or an end and died before sending leaves."""
    MaintenanceWindow.objects.filter(pk=window.pk).update(**times)


async def test_a_start_and_an_end_claimed_by_a_worker_that_died_are_sent_by_the_next_run(
    charger,
):
    site = await sync_to_async(_site)("Lost run")
    async with charger("MAINT-LOST", site=site) as cp:
        await cp.boot()
        # Later than the boot, so its own after-boot check has nothing to say.
        window = await sync_to_async(_window)(site=site, starts=60, ends=120)
        claimed = window.starts_at + timedelta(seconds=30)
        await sync_to_async(_claim)(window, applied_at=claimed)

        run = await sync_to_async(maintenance.run)(claimed + timedelta(minutes=2))
        assert run.applied == {}
        assert run.resent == {window.pk: {"MAINT-LOST": "Accepted"}}
        assert cp.received == [INOPERATIVE]
        # Told now: the next run sends nothing.
        again = await sync_to_async(maintenance.run)(claimed + timedelta(minutes=3))
        assert again.resent == {} and cp.received == [INOPERATIVE]

        released = window.ends_at + timedelta(seconds=30)
        await sync_to_async(_claim)(window, released_at=released)
        run = await sync_to_async(maintenance.run)(released + timedelta(minutes=2))
        assert run.released == {}
        assert run.resent == {window.pk: {"MAINT-LOST": "Accepted"}}
        assert cp.received == [INOPERATIVE, OPERATIVE]
        again = await sync_to_async(maintenance.run)(released + timedelta(minutes=3))
        assert again.resent == {} and cp.received == [INOPERATIVE, OPERATIVE]

    commands = await sync_to_async(_availability_commands)("MAINT-LOST")
    assert commands == [("Inoperative", "answered"), ("Operative", "answered")]


def test_a_claim_still_sending_or_a_charger_that_refused_is_not_sent_again(db_access):
    """A claim younger than a minute may still be sending; a charger that was sent the
    command (refused, no answer, offline) waits for its next boot, not every minute."""
    site = _site("Not again")
    charge_point = register("MAINT-REFUSED", site=site)
    ChargePoint.objects.filter(pk=charge_point.pk).update(is_connected=True)
    window = _window(site=site)
    now = timezone.now()
    _claim(window, applied_at=now - timedelta(seconds=30))
    assert maintenance.send_missed(now) == {}

    _claim(window, applied_at=now - timedelta(minutes=5))
    ChargerCommand.objects.create(
        charge_point=charge_point,
        action="ChangeAvailability",
        payload={"connectorId": 0, "type": "Inoperative"},
        source=availability.MAINTENANCE_SOURCE,
        status=ChargerCommand.Status.ANSWERED,
        response={"status": "Rejected"},
        answered_at=now,
    )
    assert maintenance.send_missed(now) == {}


def test_a_booting_charger_is_told_nothing_outside_windows_nor_once_it_is_operative(db_access):
    site = _site("Nothing planned")
    charge_point = register("MAINT-FREE", site=site)
    _window(site=site, starts=-120, ends=-60)
    _window(site=site, starts=60, ends=120)
    assert availability.after_boot(charge_point) == []
    # Staff made it Inoperative by hand: not for operations to undo.
    ChargerCommand.objects.create(
        charge_point=charge_point,
        action="ChangeAvailability",
        payload={"connectorId": 0, "type": "Inoperative"},
        source="admin",
        status=ChargerCommand.Status.ANSWERED,
        response={"status": "Accepted"},
        answered_at=timezone.now(),
    )
    assert availability.after_boot(charge_point) == []


def test_a_window_ending_leaves_the_charger_inoperative_while_another_window_holds_it(db_access):
    site = _site("Two windows")
    charge_point = register("MAINT-TWO", site=site)
    own = _window(charge_point=charge_point, ends=30)
    _window(site=site, ends=90)
    maintenance.run()
    _end_now(own)

    assert maintenance.release_ended()[own.pk] == {}
    assert [kind for kind, _ in _availability_commands("MAINT-TWO")] == ["Inoperative"] * 2


def test_a_window_ending_leaves_a_site_stopped_in_an_emergency_inoperative(db_access):
    site = _site("Stopped site")
    register("MAINT-STOPPED", site=site)
    window = _window(site=site)
    maintenance.run()
    EmergencyStop.objects.create(site=site, reason="Fire")
    _end_now(window)

    assert maintenance.release_ended()[window.pk] == {}
    assert availability.is_held(ChargePoint.objects.get(charge_point_id="MAINT-STOPPED"))


def test_a_window_on_one_charger_holds_only_that_charger(db):
    site = _site("One of two")
    held = register("MAINT-HELD", site=site)
    other = register("MAINT-OTHER", site=site)
    register("MAINT-ELSEWHERE")  # no site: a charger window elsewhere is not its own
    _window(charge_point=held)

    assert availability.is_held(held)
    assert not availability.is_held(other)
    assert not availability.is_held(ChargePoint.objects.get(charge_point_id="MAINT-ELSEWHERE"))
    assert maintenance.charge_points_of(MaintenanceWindow.objects.get()).get() == held


# --- What drivers see ------------------------------------------------------------------


def _local_hh_mm(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def test_drivers_see_under_maintenance_until_the_end_in_the_sites_local_time(db, client: Client):
    site = place("Being fixed")
    Site.objects.filter(pk=site.pk).update(time_zone="America/New_York")
    other = place("Working")
    window = _window(site=site, ends=10)
    expected = f"Under maintenance until {_local_hh_mm(window.ends_at, 'America/New_York')}"

    detail = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert expected in detail
    listing = client.get(reverse("portal:stations")).content.decode()
    assert listing.count("Under maintenance until") == 1 and expected in listing
    assert "Under maintenance" not in (
        client.get(reverse("portal:station", args=[other.pk])).content.decode()
    )


def test_swedish_drivers_read_it_in_swedish(db, client: Client):
    site = place("Lagas")
    window = _window(site=site, ends=10)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "sv"
    page = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    # Near midnight the end falls on the next day and its date comes first: "7 dec 00:06".
    assert "Under underhåll till " in page
    assert _local_hh_mm(window.ends_at, "Europe/Stockholm") in page


def test_drivers_see_no_maintenance_before_it_starts_or_after_it_ends(db, client: Client):
    site = place("Planned")
    _window(site=site, starts=5, ends=60)
    _window(site=site, starts=-60, ends=-5)
    page = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert "Under maintenance" not in page


def test_the_end_of_maintenance_on_another_day_names_the_day():
    zone = ZoneInfo("Europe/Stockholm")
    now = datetime(2026, 12, 6, 22, 0, tzinfo=zone)
    assert maintenance.until_text(datetime(2026, 12, 6, 23, 30, tzinfo=zone), zone, now) == "23:30"
    assert (
        maintenance.until_text(datetime(2026, 12, 8, 6, 0, tzinfo=zone), zone, now) == "8 Dec 06:00"
    )


# --- Staff ------------------------------------------------------------------------------


@pytest.fixture
def staff_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def _form(**fields: str) -> dict[str, str]:
    return {
        "site": "",
        "charge_point": "",
        "starts_at_0": "2026-12-10",
        "starts_at_1": "08:00",
        "ends_at_0": "2026-12-10",
        "ends_at_1": "12:00",
        "reason": "New cables",
        **fields,
    }


@pytest.mark.parametrize(
    ("target", "fields", "field", "error"),
    [
        ("site", {"ends_at_1": "07:00"}, "ends_at", "The window must end after it starts."),
        ("site", {"ends_at_1": "08:00"}, "ends_at", "The window must end after it starts."),
        ("neither", {}, "charge_point", "Choose a site or a charge point: exactly one of them."),
        ("both", {}, "charge_point", "Choose a site or a charge point: exactly one of them."),
        ("site", {"starts_at_0": "someday"}, "starts_at", "Enter a valid date."),
        ("site", {"reason": ""}, "reason", "This field is required."),
    ],
)
def test_bad_windows_get_form_errors_not_rows(staff_client, target, fields, field, error):
    site = _site("Admin site")
    charge_point = register("MAINT-ADMIN", site=site)
    chosen = {
        "site": {"site": str(site.pk)},
        "neither": {},
        "both": {"site": str(site.pk), "charge_point": str(charge_point.pk)},
    }[target]
    response = staff_client.post(
        reverse("admin:operations_maintenancewindow_add"), _form(**chosen, **fields)
    )
    assert response.status_code == 200
    assert error in response.context["adminform"].form.errors[field]
    assert not MaintenanceWindow.objects.exists()


def test_staff_plan_a_window_and_are_recorded_as_its_author(staff_client):
    site = _site("Planned by staff")
    response = staff_client.post(
        reverse("admin:operations_maintenancewindow_add"), _form(site=str(site.pk))
    )
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert window.site == site and window.created_by is not None
    assert window.ends_at - window.starts_at == timedelta(hours=4)


def test_a_window_in_force_cannot_be_deleted_nor_moved_only_ended(staff_client):
    site = _site("In force")
    window = _window(site=site)
    MaintenanceWindow.objects.filter(pk=window.pk).update(applied_at=timezone.now())
    change = reverse("admin:operations_maintenancewindow_change", args=[window.pk])
    page = staff_client.get(change)
    assert set(page.context["adminform"].form.fields) == {"ends_at", "reason"}
    delete = reverse("admin:operations_maintenancewindow_delete", args=[window.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert MaintenanceWindow.objects.filter(pk=window.pk).exists()


@pytest.mark.django_db
def test_a_booting_charger_is_found_held_and_left_inoperative_as_the_orm_finds_it():
    # is_held's window question and left_inoperative_by_us's first question run SQL built
    # once (CompiledQuery.exists): their answers must be the ORM's, chargers with and
    # without a site, moments inside, at the edges of and outside a window.
    site, other = _site("Hamnen"), _site("Kajen")
    alone = ChargePoint.objects.create(charge_point_id="CP-ORM-ALONE")
    on_site = ChargePoint.objects.create(charge_point_id="CP-ORM-SITE", site=site)
    next_door = ChargePoint.objects.create(charge_point_id="CP-ORM-NEXT", site=other)
    chargers = (alone, on_site, next_door)
    own, by_site = _window(charge_point=alone, starts=10, ends=20), _window(site=site, ends=5)
    moments = [
        timezone.now(),
        own.starts_at,
        own.ends_at,
        own.starts_at + timedelta(minutes=1),
        by_site.ends_at,
        by_site.starts_at - timedelta(seconds=1),
    ]
    for at in moments:
        found = [availability._window_covers(cp, at) for cp in chargers]
        assert found == [availability.windows_covering(cp, at).exists() for cp in chargers]
    assert [availability._window_covers(cp, moments[0]) for cp in chargers] == [False, True, False]
    assert [availability._window_covers(cp, moments[3]) for cp in chargers] == [True, False, False]

    def answered(cp: ChargePoint, action: str, status: str, kind: str = "Inoperative") -> None:
        ChargerCommand.objects.create(
            charge_point=cp,
            action=action,
            status=status,
            source=availability.MAINTENANCE_SOURCE,
            payload={"connectorId": 0, "type": kind},
            response={"status": "Accepted"},
            answered_at=timezone.now(),
        )

    answered(alone, "ChangeAvailability", ChargerCommand.Status.TIMEOUT)
    answered(on_site, "Reset", ChargerCommand.Status.ANSWERED)
    assert [availability.left_inoperative_by_us(cp) for cp in chargers] == [False] * 3
    answered(next_door, "ChangeAvailability", ChargerCommand.Status.ANSWERED)
    assert [availability.left_inoperative_by_us(cp) for cp in chargers] == [False, False, True]
    answered(next_door, "ChangeAvailability", ChargerCommand.Status.ANSWERED, "Operative")
    assert not availability.left_inoperative_by_us(next_door)
