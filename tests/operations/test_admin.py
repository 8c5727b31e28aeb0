"""The tickets back office: technicians work tickets through operations/tickets.py (the
same refusals as the API), support only looks."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from operations import tickets
from operations.models import SiteTechnician, Ticket, TicketEntry
from stations.models import ChargePoint, Connector, SecurityEvent, Site
from tests.operations.technicians import make_technician
from users import roles
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles() -> None:
    roles.set_up_roles()


@pytest.fixture
def connector() -> Connector:
    site = Site.objects.create(name="Admin-hamnen")
    charge_point = ChargePoint.objects.create(charge_point_id="CP-ADMIN-T", site=site)
    return Connector.objects.create(charge_point=charge_point, connector_id=1)


@pytest.fixture
def ticket(connector: Connector) -> Ticket:
    return tickets.raise_fault(
        Ticket.Kind.FAULTED,
        title="CP-ADMIN-T#1 faulted: GroundFailure",
        charge_point=connector.charge_point,
        connector=connector,
    )[0]


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def technician() -> User:
    return make_technician()


# The entries inline is read-only: the form posts no entry (the management form still comes).
NO_ENTRIES = {"entries-TOTAL_FORMS": "0", "entries-INITIAL_FORMS": "0"}


def change_url(ticket: Ticket) -> str:
    return reverse("admin:operations_ticket_change", args=[ticket.pk])


CHANGELIST = "/admin/operations/ticket/"


@pytest.mark.parametrize("query", ["", "?open=yes", "?overdue=yes", "?overdue=no", "?open=no"])
def test_the_ticket_list_renders_with_its_filters(technician, ticket, query):
    response = browser(technician).get(CHANGELIST + query)

    assert response.status_code == 200
    assert ("GroundFailure" in response.text) == (query not in ("?overdue=yes", "?open=no"))


def test_an_overdue_ticket_is_marked_in_the_list(technician, ticket):
    Ticket.objects.filter(pk=ticket.pk).update(due_at=timezone.now() - timedelta(minutes=1))

    response = browser(technician).get(CHANGELIST + "?overdue=yes")

    assert "GroundFailure" in response.text
    assert 'alt="True"' in response.text  # the overdue column's icon


def test_a_technician_moves_the_ticket_assigns_it_and_comments(technician, ticket):
    response = browser(technician).post(
        change_url(ticket),
        {
            "status": "in_progress",
            "severity": "major",
            "assignee": technician.pk,
            "comment": "On my way with a new RCD.",
            **NO_ENTRIES,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (Ticket.Status.IN_PROGRESS, technician)
    entries = list(ticket.entries.values_list("kind", "author", "text"))
    assert entries[-1] == (TicketEntry.Kind.COMMENT, technician.pk, "On my way with a new RCD.")
    assert entries[-2][:2] == (TicketEntry.Kind.STATUS, technician.pk)


def test_a_move_the_workflow_lacks_is_a_form_error(technician, ticket):
    tickets.resolve(ticket, "Connector Available again.")

    response = browser(technician).post(
        change_url(ticket),
        {"status": "acknowledged", "severity": "major", "assignee": "", **NO_ENTRIES},
    )

    assert response.status_code == 200
    assert "cannot become" in str(response.context["adminform"].form.errors)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.RESOLVED


def test_only_technicians_can_be_chosen_as_assignee(technician, ticket, make_user):
    driver = make_user(email="not-a-tech@example.com")

    page = browser(technician).get(change_url(ticket))

    assert technician.email in page.text
    assert driver.email not in page.text


def test_reopen_action_reopens_or_says_why_not(technician, ticket, connector, settings):
    settings.OPERATIONS_FLAP_WINDOW = 0
    tickets.resolve(ticket, "Connector Available again.")
    client = browser(technician)
    action = {"action": "reopen", "_selected_action": [ticket.pk]}

    response = client.post(CHANGELIST, action)
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN

    tickets.resolve(ticket, "Connector Available again.")
    newer, created = tickets.raise_fault(
        Ticket.Kind.FAULTED, title="again", charge_point=connector.charge_point, connector=connector
    )
    assert created
    response = client.post(CHANGELIST, action)
    texts = [m.message for m in get_messages(response.wsgi_request)]
    assert any(f"#{newer.pk} is open for the same fault" in text for text in texts)


def test_support_sees_tickets_but_cannot_change_them(ticket):
    support = User.objects.create_user("support@example.com", "pw", is_staff=True)
    support.groups.add(Group.objects.get(name=roles.SUPPORT.name))
    client = browser(support)

    assert client.get(CHANGELIST).status_code == 200
    assert client.get(change_url(ticket)).status_code == 200  # read-only view
    response = client.post(
        change_url(ticket), {"status": "closed", "severity": "major", **NO_ENTRIES}
    )
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN


def test_site_technicians_and_security_events_pages(technician, connector):
    admin = User.objects.create_superuser("root@example.com", "x" * 20)
    SiteTechnician.objects.create(site=connector.charge_point.site, user=technician)
    SecurityEvent.objects.create(
        charge_point=connector.charge_point,
        type="TamperDetectionActivated",
        timestamp=timezone.now(),
    )
    client = browser(admin)

    assert technician.email in client.get("/admin/operations/sitetechnician/").text
    assert "TamperDetectionActivated" in client.get("/admin/stations/securityevent/").text
    add = client.get("/admin/operations/sitetechnician/add/")
    choices = add.context["adminform"].form.fields["user"].queryset
    assert list(choices) == [technician]  # the superuser is no technician
