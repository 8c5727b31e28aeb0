"""The remote repair from the ticket's admin page: a button, a page that says what will
be sent, and the repair on the ticket; only for staff who may send commands to chargers."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.urls import reverse

from operations import tickets
from operations.models import Ticket, TicketEntry
from tests.conftest import register


def _offline_ticket(charge_point_id: str) -> Ticket:
    charge_point = register(charge_point_id, is_connected=False)
    ticket, _created = tickets.raise_fault(
        Ticket.Kind.OFFLINE, title=f"{charge_point_id} offline", charge_point=charge_point
    )
    return ticket


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def technician(make_user):
    return make_user(
        "operations.view_ticket",
        "operations.change_ticket",
        "operations.view_ticketentry",
        "stations.send_commands",
        is_staff=True,
    )


@override_settings(OPERATIONS_REPAIR_WAIT=5)
def test_the_ticket_page_offers_the_repair_and_its_page_runs_it(technician, db_access):
    ticket = _offline_ticket("ADMIN-REPAIR")
    client = _client(technician)
    change_url = reverse("admin:operations_ticket_change", args=[ticket.pk])
    repair_url = reverse("operations:ticket-repair", args=[ticket.pk])
    assert f'href="{repair_url}"' in client.get(change_url).content.decode()

    page = client.get(repair_url).content.decode()
    assert "These commands go to ADMIN-REPAIR" in page
    steps = page[page.index('<ol class="repair-steps">') : page.index("</ol>")]
    assert [line.strip() for line in steps.split("<li>")[1:]] == [
        "TriggerMessage StatusNotification</li>",
        "Soft reset</li>",
        "Hard reset</li>",  # no unlock: not a connector's ticket
    ]

    # The task runs inline here (a worker runs it in production).
    response = client.post(repair_url)
    assert (response.status_code, response["Location"]) == (302, change_url)
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Remote repair started: its steps appear on the ticket as they run."]
    entries = TicketEntry.objects.filter(ticket=ticket, kind=TicketEntry.Kind.REPAIR)
    assert [entry.author for entry in entries] == [technician] * 5
    assert entries.last().data == {"phase": "finished", "recovered": False}
    # The ticket's page lists them.
    assert (
        "Hard reset: The charger is offline right now." in client.get(change_url).content.decode()
    )


def test_without_the_command_permission_there_is_no_repair(make_user, db_access):
    ticket = _offline_ticket("ADMIN-NO-REPAIR")
    support = _client(
        make_user("operations.view_ticket", "operations.change_ticket", is_staff=True)
    )
    repair_url = reverse("operations:ticket-repair", args=[ticket.pk])
    change = support.get(reverse("admin:operations_ticket_change", args=[ticket.pk]))
    assert change.status_code == 200 and repair_url not in change.content.decode()
    assert support.get(repair_url).status_code == 403
    assert support.post(repair_url).status_code == 403
    assert not TicketEntry.objects.filter(ticket=ticket, kind="repair").exists()


def test_an_unknown_ticket_is_404_and_a_resolved_one_says_why_not(technician, db_access):
    client = _client(technician)
    assert client.get(reverse("operations:ticket-repair", args=[10**9])).status_code == 404
    ticket = _offline_ticket("ADMIN-REPAIR-DONE")
    tickets.resolve(ticket, "Fixed on site")
    repair_url = reverse("operations:ticket-repair", args=[ticket.pk])
    page = client.get(repair_url)
    assert "This ticket is resolved already." in page.content.decode()
    assert b'value="Run the remote repair"' not in page.content
    response = client.post(repair_url)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "This ticket is resolved already."
    ]
    assert not TicketEntry.objects.filter(ticket=ticket, kind="repair").exists()
    change = client.get(reverse("admin:operations_ticket_change", args=[ticket.pk]))
    assert repair_url not in change.content.decode()
