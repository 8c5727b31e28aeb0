"""Inspections (operations/inspections.py): a schedule due opens one inspection ticket
and moves on by its months; staff complete the checklist on it, which keeps it on the
ticket and resolves it; bad input in admin is a form error."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from operations import inspections
from operations.models import DEFAULT_CHECKLIST, InspectionSchedule, Ticket, TicketEntry
from stations.models import Site

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 6)


def _schedule(name: str = "Inspected", **fields) -> InspectionSchedule:
    site = Site.objects.create(name=name)
    return InspectionSchedule.objects.create(
        site=site, **{"every_months": 6, "next_due": TODAY, **fields}
    )


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 8, 31), 1, date(2026, 9, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 3, 10), 12, date(2027, 3, 10)),
        (date(2026, 12, 31), 14, date(2028, 2, 29)),
    ],
)
def test_months_are_added_by_the_calendar_clamped_to_the_months_end(day, months, expected):
    assert inspections.add_months(day, months) == expected


def test_a_due_schedule_opens_one_inspection_ticket_and_moves_on_by_its_months():
    schedule = _schedule()

    [ticket] = inspections.open_due(TODAY)

    assert ticket.kind == Ticket.Kind.INSPECTION and ticket.site == schedule.site
    assert ticket.charge_point is None and ticket.severity == Ticket.Severity.MINOR
    assert ticket.is_open and ticket.fault_key == f"inspection:schedule:{schedule.pk}"
    assert ticket.checklist == {item: {"ok": None, "note": ""} for item in DEFAULT_CHECKLIST}
    schedule.refresh_from_db()
    assert schedule.next_due == date(2027, 6, 6)

    # The hourly task again, the same day: nothing more.
    assert inspections.open_due(TODAY) == []
    assert Ticket.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_due == date(2027, 6, 6)


def test_schedules_not_due_or_inactive_open_nothing():
    _schedule("Later", next_due=date(2026, 12, 7))
    _schedule("Off", active=False)
    assert inspections.open_due(TODAY) == []
    assert not Ticket.objects.exists()


def test_each_site_gets_its_own_inspection():
    first, second = _schedule("North"), _schedule("South")
    tickets = inspections.open_due(TODAY)
    assert {ticket.site for ticket in tickets} == {first.site, second.site}
    assert Ticket.objects.count() == 2


def test_a_schedule_long_past_due_opens_one_ticket_and_its_next_date_is_ahead():
    schedule = _schedule(next_due=date(2025, 1, 31), every_months=3)
    assert len(inspections.open_due(TODAY)) == 1
    schedule.refresh_from_db()
    assert schedule.next_due == date(2027, 1, 31)


def test_an_inspection_still_open_when_the_next_falls_due_is_joined_not_opened_twice():
    schedule = _schedule(every_months=1)
    [first] = inspections.open_due(TODAY)
    [again] = inspections.open_due(date(2027, 1, 6))
    assert again.pk == first.pk and again.occurrences == 2
    assert Ticket.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_due == date(2027, 2, 6)


def test_completing_the_checklist_keeps_it_on_the_ticket_and_resolves_it(make_user):
    _schedule(checklist=["Cables", "Screen"])
    [ticket] = inspections.open_due(TODAY)
    technician = make_user()
    results = {"Cables": {"ok": True, "note": ""}, "Screen": {"ok": False, "note": " Cracked "}}

    inspections.complete(ticket, results, by=technician)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED and ticket.resolved_at is not None
    assert ticket.checklist == {
        "Cables": {"ok": True, "note": ""},
        "Screen": {"ok": False, "note": "Cracked"},
    }
    assert ticket.resolution == "Inspection done: 1 of 2 items OK. Not OK: Screen."
    entry = ticket.entries.get(kind=TicketEntry.Kind.COMMENT)
    assert entry.author == technician and entry.data == {"checklist": ticket.checklist}

    with pytest.raises(inspections.InspectionError, match="no longer open"):
        inspections.complete(ticket, results, by=technician)


def test_a_checklist_must_answer_exactly_the_tickets_items():
    _schedule(checklist=["Cables", "Screen"])
    [ticket] = inspections.open_due(TODAY)
    with pytest.raises(inspections.InspectionError, match="every item"):
        inspections.complete(ticket, {"Cables": {"ok": True}})
    with pytest.raises(inspections.InspectionError, match="every item"):
        inspections.complete(
            ticket, {"Cables": {"ok": True}, "Screen": {"ok": True}, "Camera": {"ok": True}}
        )
    ticket.refresh_from_db()
    assert ticket.is_open


# --- Staff ------------------------------------------------------------------------------


@pytest.fixture
def staff_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def _complete_url(ticket: Ticket) -> str:
    return reverse("admin:operations_inspectionschedule_complete", args=[ticket.pk])


def test_an_inspection_tickets_page_shows_its_checklist_and_the_way_to_complete_it(
    staff_client,
):
    _schedule(checklist=["Cables", "Screen"])
    [ticket] = inspections.open_due(TODAY)
    change = reverse("admin:operations_ticket_change", args=[ticket.pk])
    page = staff_client.get(change).content.decode()
    assert "Not checked yet" in page and _complete_url(ticket) in page

    inspections.complete(
        ticket, {"Cables": {"ok": True, "note": ""}, "Screen": {"ok": False, "note": "Cracked"}}
    )
    page = staff_client.get(change).content.decode()
    assert "Cracked" in page and "Not OK" in page and _complete_url(ticket) not in page

    other = Ticket.objects.create(kind=Ticket.Kind.OTHER, title="Broken sign")
    page = staff_client.get(reverse("admin:operations_ticket_change", args=[other.pk]))
    assert "inspection checklist" not in page.content.decode().lower()


def test_staff_complete_an_inspection_from_its_schedule(staff_client):
    _schedule(checklist=["Cables", "Screen"])
    [ticket] = inspections.open_due(TODAY)
    listing = staff_client.get(reverse("admin:operations_inspectionschedule_changelist"))
    assert _complete_url(ticket) in listing.content.decode()
    page = staff_client.get(_complete_url(ticket)).content.decode()
    assert "Cables" in page and "Screen" in page

    response = staff_client.post(
        _complete_url(ticket), {"ok_0": "ok", "note_0": "", "ok_1": "not_ok", "note_1": "Dark"}
    )

    assert response.url == reverse("admin:operations_ticket_change", args=[ticket.pk])
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED
    assert ticket.checklist["Screen"] == {"ok": False, "note": "Dark"}
    done = staff_client.get(_complete_url(ticket)).content.decode()
    assert "Dark" in done and "<form method" not in done.split('id="content-main"')[1]


@pytest.mark.parametrize(
    ("form", "field", "error"),
    [
        ({"ok_0": "ok"}, "ok_1", "This field is required."),
        ({"ok_0": "ok", "ok_1": "not_ok", "note_1": "  "}, "note_1", "Say what is wrong."),
        ({"ok_0": "fine", "ok_1": "ok"}, "ok_0", "Select a valid choice."),
    ],
)
def test_a_bad_checklist_is_a_form_error_and_the_ticket_stays_open(
    staff_client, form, field, error
):
    _schedule(checklist=["Cables", "Screen"])
    [ticket] = inspections.open_due(TODAY)
    response = staff_client.post(_complete_url(ticket), form)
    assert response.status_code == 400
    assert error in response.context["form"].errors[field][0]
    ticket.refresh_from_db()
    assert ticket.is_open


def test_completing_needs_the_permission_to_change_tickets(make_user):
    _schedule()
    [ticket] = inspections.open_due(TODAY)
    client = Client()
    client.force_login(make_user("operations.view_inspectionschedule", is_staff=True))
    assert client.get(_complete_url(ticket)).status_code == 403


def test_a_ticket_that_is_no_inspection_is_404(staff_client):
    other = Ticket.objects.create(kind=Ticket.Kind.OTHER, title="Broken sign")
    assert staff_client.get(_complete_url(other)).status_code == 404


def _schedule_form(site: Site, **fields: str) -> dict[str, str]:
    return {
        "site": str(site.pk),
        "every_months": "12",
        "next_due": "2027-03-01",
        "checklist": "Cables\nConnectors\n\n  Screen  \n",
        "active": "on",
        **fields,
    }


def test_staff_write_the_checklist_one_item_a_line(staff_client):
    site = Site.objects.create(name="Listed")
    add = reverse("admin:operations_inspectionschedule_add")
    assert "Emergency stop button" in staff_client.get(add).content.decode()
    response = staff_client.post(add, _schedule_form(site))
    assert response.status_code == 302
    schedule = InspectionSchedule.objects.get()
    assert schedule.checklist == ["Cables", "Connectors", "Screen"]
    assert schedule.every_months == 12 and schedule.next_due == date(2027, 3, 1)


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"checklist": " \n "}, "checklist", "List at least one item, one a line."),
        ({"checklist": "Cables\ncables"}, "checklist", "cables is listed twice."),
        ({"checklist": "x" * 101}, "checklist", "Keep each item under 100 characters"),
        ({"every_months": "0"}, "every_months", "greater than or equal to 1"),
        ({"every_months": "often"}, "every_months", "Enter a whole number."),
        ({"next_due": "2027-02-30"}, "next_due", "Enter a valid date."),
    ],
)
def test_bad_schedules_get_form_errors(staff_client, fields, field, error):
    site = Site.objects.create(name="Badly planned")
    response = staff_client.post(
        reverse("admin:operations_inspectionschedule_add"), _schedule_form(site, **fields)
    )
    assert response.status_code == 200
    assert error in " ".join(response.context["adminform"].form.errors[field])
    assert not InspectionSchedule.objects.exists()
