"""A ticket's life by hand (operations/tickets.py) and its alerts (operations/alerts.py):
states, assignee, severity and escalation, comments, reopening, overdue, the digest."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications import inbox
from notifications.models import Preferences
from operations import alerts, tasks, tickets
from operations.models import Ticket, TicketEntry
from stations.models import ChargePoint, Connector, Site
from tests.fresh_process import run_with, settings_code
from tests.operations.technicians import make_technician
from users.models import User

pytestmark = pytest.mark.django_db

S = Ticket.Status


@pytest.fixture
def site() -> Site:
    return Site.objects.create(name="Hamnen")


@pytest.fixture
def connector(site: Site) -> Connector:
    charge_point = ChargePoint.objects.create(charge_point_id="CP-TICKET", site=site)
    return Connector.objects.create(charge_point=charge_point, connector_id=1)


@pytest.fixture
def staff(make_user) -> User:
    return make_user(is_staff=True)


def fault(connector: Connector, at=None) -> tuple[Ticket, bool]:
    return tickets.raise_fault(
        Ticket.Kind.FAULTED,
        title="faulted",
        charge_point=connector.charge_point,
        connector=connector,
        at=at,
    )


def test_staff_move_a_ticket_through_its_states_and_each_move_is_on_the_ticket(
    connector, staff, django_capture_on_commit_callbacks
):
    ticket, _ = fault(connector)
    for state in (S.ACKNOWLEDGED, S.IN_PROGRESS, S.WAITING_FOR_PARTS, S.RESOLVED, S.CLOSED):
        ticket = tickets.update(ticket, by=staff, status=state)
        assert ticket.status == state
    assert ticket.resolved_at is not None
    moves = ticket.entries.filter(kind=TicketEntry.Kind.STATUS, author=staff)
    assert moves.count() == 5


@pytest.mark.parametrize(
    ("start", "to"),
    [(S.RESOLVED, S.ACKNOWLEDGED), (S.CLOSED, S.IN_PROGRESS), (S.CLOSED, S.RESOLVED)],
)
def test_a_resolved_or_closed_ticket_moves_only_by_reopening(connector, staff, start, to):
    ticket, _ = fault(connector)
    ticket = tickets.update(ticket, by=staff, status=start)

    with pytest.raises(tickets.TicketRefused, match="cannot become"):
        tickets.update(ticket, by=staff, status=to)
    with pytest.raises(tickets.TicketRefused, match="reopen action"):
        tickets.update(ticket, by=staff, status=S.OPEN)


def test_only_a_technician_is_assigned(connector, staff):
    ticket, _ = fault(connector)
    technician = make_technician()

    with pytest.raises(tickets.TicketRefused, match="Only a technician"):
        tickets.update(ticket, by=staff, assignee=staff)
    assert tickets.update(ticket, by=staff, assignee=technician).assignee == technician
    assert tickets.update(ticket, by=staff, assignee=None).assignee is None


def test_raising_the_severity_moves_the_due_time_and_alerts_once(
    connector, site, staff, mailoutbox, django_capture_on_commit_callbacks
):
    technician = make_technician(site)
    with django_capture_on_commit_callbacks(execute=True):
        ticket, _ = fault(connector)  # a 22 kW charger: major
    assert ticket.severity == Ticket.Severity.MAJOR
    assert [m.subject for m in mailoutbox] == [f"Ticket #{ticket.pk} opened: faulted"]

    with django_capture_on_commit_callbacks(execute=True):
        ticket = tickets.update(ticket, by=staff, severity=Ticket.Severity.CRITICAL)
    assert ticket.due_at == ticket.opened_at + timedelta(hours=4)
    assert mailoutbox[-1].subject == f"Ticket #{ticket.pk} escalated to Critical: faulted"
    assert mailoutbox[-1].to == [technician.email]

    # Lowered: no alert; the same escalation asked again: no second alert.
    with django_capture_on_commit_callbacks(execute=True):
        tickets.update(ticket, by=staff, severity=Ticket.Severity.MINOR)
    assert alerts.alert(ticket.pk, alerts.ESCALATED) is not None  # minor was never told
    tickets.update(ticket, by=staff, severity=Ticket.Severity.CRITICAL)
    assert alerts.alert(ticket.pk, alerts.ESCALATED) is None
    assert len(mailoutbox) == 3


K, SEV = Ticket.Kind, Ticket.Severity


@pytest.mark.parametrize(
    ("kind", "kw", "severity"),
    [
        (K.FAULTED, "22", SEV.MAJOR),
        (K.FAULTED, "50", SEV.CRITICAL),  # a fast charger strands drivers on a journey
        (K.OFFLINE, "150", SEV.CRITICAL),
        (K.DRIVER_REPORT, "11", SEV.MAJOR),
        (K.SECURITY_EVENT, "11", SEV.CRITICAL),  # whatever the charger
        (K.STUCK_SESSION, "150", SEV.MAJOR),
        (K.INSPECTION, "150", SEV.MINOR),
    ],
)
def test_severity_comes_from_the_kind_and_the_chargers_power_and_sets_the_due_time(
    site, settings, kind, kw, severity
):
    settings.OPERATIONS_SLA_HOURS = {"critical": 2, "major": 12, "minor": 48}
    charge_point = ChargePoint.objects.create(charge_point_id=f"CP-SEV-{kind}", site=site)
    Connector.objects.create(charge_point=charge_point, connector_id=1, max_power_kw=Decimal(kw))

    ticket, _ = tickets.raise_fault(kind, title="fault", charge_point=charge_point)

    assert ticket.severity == severity
    hours = settings.OPERATIONS_SLA_HOURS[severity]
    assert ticket.due_at == ticket.opened_at + timedelta(hours=hours)


SLA_HOURS = settings_code("settings.OPERATIONS_SLA_HOURS")


def test_sla_hours_from_the_environment_keep_the_defaults_not_named_and_refuse_nonsense():
    """Read in a fresh process as a deployment starts: a half-given setting must not leave
    a severity without hours for the first ticket a charger opens."""
    given = run_with({"OPERATIONS_SLA_HOURS": "critical:2, minor:96"}, "-c", SLA_HOURS)
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout) == {"critical": 2, "major": 24, "minor": 96}
    for nonsense in ("urgent:1", "critical:four"):
        refused = run_with({"OPERATIONS_SLA_HOURS": nonsense}, "-c", SLA_HOURS)
        assert refused.returncode != 0
        assert "ImproperlyConfigured: OPERATIONS_SLA_HOURS" in refused.stderr


def test_staff_reopen_a_resolved_ticket_unless_the_fault_has_another_open_one(
    connector, staff, settings
):
    settings.OPERATIONS_FLAP_WINDOW = 600
    ticket, _ = fault(connector)
    tickets.resolve(ticket, "Connector Available again.")

    reopened = tickets.reopen(ticket, by=staff, reason="Still sparks.")
    assert (reopened.status, reopened.resolved_at, reopened.resolution) == (S.OPEN, None, "")

    tickets.resolve(reopened, "Connector Available again.")
    later = timezone.now() + timedelta(hours=1)
    newer, created = fault(connector, at=later)  # past the flap window: a new ticket
    assert created
    with pytest.raises(tickets.TicketRefused, match=f"#{newer.pk} is open for the same fault"):
        tickets.reopen(ticket, by=staff)
    with pytest.raises(tickets.TicketRefused, match="open already"):
        tickets.reopen(newer, by=staff)


def test_a_fault_back_within_the_flap_window_reopens_its_ticket(connector, settings):
    settings.OPERATIONS_FLAP_WINDOW = 600
    ticket, _ = fault(connector)
    tickets.resolve(ticket, "Connector Available again.")

    again, created = fault(connector, at=timezone.now() + timedelta(minutes=9))

    assert (again.pk, created, again.status, again.occurrences) == (ticket.pk, False, S.OPEN, 2)


def test_comments_need_text(connector, staff):
    ticket, _ = fault(connector)

    entry = tickets.comment(ticket, "  Cable replaced.  ", by=staff)

    assert (entry.kind, entry.text, entry.author) == (
        TicketEntry.Kind.COMMENT,
        "Cable replaced.",
        staff,
    )
    with pytest.raises(tickets.TicketRefused):
        tickets.comment(ticket, "   ", by=staff)


def test_an_overdue_ticket_is_alerted_once_by_the_sweep(connector, site, mailoutbox):
    technician = make_technician(site)
    ticket, _ = fault(connector)
    tasks.sweep()  # its opening alert (no receiver ran here)
    assert len(mailoutbox) == 1

    past_due = ticket.due_at + timedelta(minutes=1)
    tasks.sweep(now=past_due)
    tasks.sweep(now=past_due + timedelta(hours=1))

    assert [m.subject for m in mailoutbox[1:]] == [f"Ticket #{ticket.pk} overdue: faulted"]
    assert mailoutbox[1].to == [technician.email]
    ticket.refresh_from_db()
    assert ticket.is_overdue(past_due)


def test_a_technician_who_chose_the_digest_gets_one_email_a_day(connector, site, mailoutbox):
    at_once = make_technician(site)
    daily = make_technician(site, digest=True)
    ticket, _ = fault(connector)
    tasks.sweep()

    assert [m.to for m in mailoutbox] == [[at_once.email]]
    entry = ticket.entries.get(kind=TicketEntry.Kind.ALERT)
    assert entry.data["digest"] == [daily.email]

    assert alerts.send_digests() == 1
    digest = mailoutbox[-1]
    assert digest.to == [daily.email]
    assert f"#{ticket.pk} faulted" in digest.body
    assert alerts.send_digests() == 0  # nothing new since


def test_a_technician_who_chose_the_digest_for_all_staff_alerts_gets_tickets_there(
    connector, site, mailoutbox
):
    daily = make_technician(site)  # not chosen for the site: on their notification page
    Preferences.objects.create(user=daily, staff_digest=True)
    ticket, _ = fault(connector)
    tasks.sweep()

    assert mailoutbox == []
    assert ticket.entries.get(kind=TicketEntry.Kind.ALERT).data["digest"] == [daily.email]
    assert alerts.send_digests() == 1
    assert [m.to for m in mailoutbox] == [[daily.email]]
    assert f"#{ticket.pk} faulted" in mailoutbox[0].body


def test_ticket_alerts_go_on_the_channels_each_technician_chose(connector, site, mailoutbox):
    emailed = make_technician(site)  # never chose: email, as before
    in_portal = make_technician(site)
    Preferences.objects.create(user=in_portal, channels={"ticket_alerts": ["portal"]})
    daily_portal = make_technician(site, digest=True)  # the site's digest, but no email
    Preferences.objects.create(user=daily_portal, channels={"ticket_alerts": ["portal"]})
    ticket, _ = fault(connector)
    tasks.sweep()

    assert [m.to for m in mailoutbox] == [[emailed.email]]
    assert [n.title for n in inbox.latest(in_portal)] == [f"Ticket #{ticket.pk} opened: faulted"]
    assert inbox.latest(daily_portal).count() == 1  # at once, not in the digest
    assert not inbox.latest(emailed).exists()
    alert = ticket.entries.get(kind=TicketEntry.Kind.ALERT)
    assert sorted(alert.data["to"]) == sorted([emailed.email, in_portal.email, daily_portal.email])
    assert alert.data["digest"] == []
    assert alerts.send_digests() == 0  # no email chosen: no digest either
    assert len(mailoutbox) == 1


def test_a_site_nobody_covers_alerts_every_technician(connector, mailoutbox):
    first, second = make_technician(), make_technician()
    make_technician(is_active=False)

    fault(connector)
    tasks.sweep()

    assert sorted(m.to[0] for m in mailoutbox) == sorted([first.email, second.email])


def test_a_technician_is_alerted_in_their_language(connector, site, mailoutbox):
    make_technician(site, language="sv")  # make_technician's language="en" is overridden

    fault(connector)
    tasks.sweep()

    assert mailoutbox[0].subject.startswith("Ärende #")


# --- Assigned: the assignee hears it (operations/alerts.py ASSIGNED) ---------------------


def test_the_assignee_is_told_once_and_nobody_when_assigning_themselves(
    connector, site, mailoutbox, django_capture_on_commit_callbacks
):
    lead = make_technician(site)
    other = make_technician()
    ticket, _opened = fault(connector)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        tickets.update(ticket, by=lead, assignee=other)
        tickets.update(ticket, by=lead, assignee=other)  # the same again: no change
    [mail] = mailoutbox
    assert mail.to == [other.email]
    assert mail.subject == f"Ticket #{ticket.pk} assigned to you: faulted"
    assert "A ticket was assigned to you." in mail.body

    with django_capture_on_commit_callbacks(execute=True):
        tickets.update(ticket, by=lead, assignee=lead)  # took it themselves
    assert len(mailoutbox) == 1


def test_an_assignee_who_chose_the_digest_hears_it_there_and_only_they_do(
    connector, site, mailoutbox, django_capture_on_commit_callbacks
):
    lead = make_technician(site)
    assignee = make_technician(site, digest=True)
    colleague = make_technician(site, digest=True)
    ticket, _opened = fault(connector)
    alerts.send_digests()  # the opening alert, in both digests
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        tickets.update(ticket, by=lead, assignee=assignee)
    assert mailoutbox == []

    assert alerts.send_digests() == 1
    [digest] = mailoutbox
    assert digest.to == [assignee.email]
    assert "assigned to you: #" in digest.body
    assert colleague.email not in digest.to


def test_the_open_fault_ticket_is_the_orms_in_every_state_of_a_fault(connector, staff):
    """tickets.OPEN_FAULT_TICKET, its SQL built once, read before resolving a fault in a
    charger's connect and StatusNotification: the ORM's ticket, always."""
    key = tickets.fault_key(Ticket.Kind.FAULTED, connector.charge_point, connector)
    other = tickets.fault_key(Ticket.Kind.OFFLINE, connector.charge_point, None)

    def agree() -> Ticket | None:
        for asked in (key, other, ""):
            orm = Ticket.objects.filter(fault_key=asked, status__in=Ticket.OPEN_STATUSES)
            assert tickets.OPEN_FAULT_TICKET.first(key=asked) == orm.first()
        return tickets.OPEN_FAULT_TICKET.first(key=key)

    assert agree() is None  # no ticket at all
    ticket, _ = fault(connector)
    assert agree() == ticket
    for state in (S.ACKNOWLEDGED, S.IN_PROGRESS, S.WAITING_FOR_PARTS):
        ticket = tickets.update(ticket, by=staff, status=state)
        assert agree() == ticket
    ticket = tickets.update(ticket, by=staff, status=S.RESOLVED)
    assert agree() is None
    ticket = tickets.update(ticket, by=staff, status=S.CLOSED)
    assert agree() is None
    offline, _ = tickets.raise_fault(
        Ticket.Kind.OFFLINE, title="offline", charge_point=connector.charge_point
    )  # another fault's ticket
    assert agree() is None
    assert tickets.OPEN_FAULT_TICKET.first(key=other) == offline
