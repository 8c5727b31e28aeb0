"""Staff: tickets through the API, with the admin's permissions and the workflow's refusals."""

import pytest
from django.test import override_settings

from operations import tickets
from operations.models import Ticket, TicketEntry
from stations.models import ChargePoint, Connector, Site
from tests.conftest import register
from tests.operations.technicians import make_technician
from users import roles

pytestmark = pytest.mark.django_db

URL = "/api/v1/tickets/"


@pytest.fixture
def world() -> dict:
    north, south = Site.objects.create(name="Norr"), Site.objects.create(name="Söder")
    cp_north = ChargePoint.objects.create(charge_point_id="API-T-1", site=north)
    cp_south = ChargePoint.objects.create(charge_point_id="API-T-2", site=south)
    connector = Connector.objects.create(charge_point=cp_north, connector_id=1)
    faulted, _ = tickets.raise_fault(
        Ticket.Kind.FAULTED, title="faulted", charge_point=cp_north, connector=connector
    )
    offline, _ = tickets.raise_fault(Ticket.Kind.OFFLINE, title="offline", charge_point=cp_south)
    done, _ = tickets.raise_fault(Ticket.Kind.OFFLINE, title="was offline", charge_point=cp_north)
    tickets.resolve(done, "Charger online again.")
    return {"north": north, "faulted": faulted, "offline": offline, "done": done}


@pytest.fixture
def technician():
    """In the technician role, with its permissions (users/roles.py)."""
    roles.set_up_roles()
    return make_technician()


@pytest.fixture
def as_technician(client_for, technician):
    return client_for(technician)


def ids(client, query: str = "") -> list[int]:
    response = client.get(f"{URL}{query}")
    assert response.status_code == 200, response.content
    return sorted(ticket["id"] for ticket in response.json()["results"])


def test_tickets_are_listed_and_filtered(as_technician, world):
    faulted, offline, done = world["faulted"].pk, world["offline"].pk, world["done"].pk

    assert ids(as_technician) == sorted([faulted, offline, done])
    assert ids(as_technician, "?charge_point=API-T-1") == sorted([faulted, done])
    assert ids(as_technician, f"?site={world['north'].pk}") == sorted([faulted, done])
    assert ids(as_technician, "?status=open") == sorted([faulted, offline])
    assert ids(as_technician, "?status=resolved") == [done]
    assert ids(as_technician, "?charge_point=API-T-1&status=open") == [faulted]
    # A filter on what does not exist is a 404 saying so, not an empty list.
    for query, detail in (
        ("?charge_point=NOBODY", "No such charge point."),
        ("?site=999999", "No such site."),
    ):
        response = as_technician.get(f"{URL}{query}")
        assert (response.status_code, response.json()) == (404, {"detail": detail})


@pytest.mark.parametrize("query", ["?status=broken", "?site=0", "?site=north"])
def test_a_bad_filter_is_a_400_naming_it(as_technician, world, query):
    response = as_technician.get(f"{URL}{query}")
    assert response.status_code == 400
    assert query[1:].split("=")[0] in response.json()


def test_one_ticket_with_its_history(as_technician, world):
    response = as_technician.get(f"{URL}{world['faulted'].pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["charge_point"], body["connector"], body["status"]) == ("API-T-1", 1, "open")
    assert body["overdue"] is False
    assert [entry["kind"] for entry in body["entries"]] == ["evidence"]


def test_staff_change_state_severity_and_assignee(as_technician, technician, world):
    response = as_technician.patch(
        f"{URL}{world['faulted'].pk}/",
        {"status": "in_progress", "severity": "critical", "assignee": technician.pk},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["severity"], body["assignee"]) == (
        "in_progress",
        "critical",
        technician.pk,
    )
    assert body["entries"][-1]["author"] == technician.email


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "open"}, "reopen action"),
        ({"status": "acknowledged"}, "cannot become"),
    ],
)
def test_a_move_the_workflow_lacks_is_a_400_saying_why(as_technician, world, change, message):
    response = as_technician.patch(f"{URL}{world['done'].pk}/", change, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_assigning_someone_who_is_not_a_technician_is_a_400(as_technician, make_user, world):
    driver = make_user()

    response = as_technician.patch(
        f"{URL}{world['faulted'].pk}/", {"assignee": driver.pk}, format="json"
    )

    assert response.status_code == 400
    assert "Only a technician" in response.json()["detail"]
    assert (
        as_technician.patch(
            f"{URL}{world['faulted'].pk}/", {"assignee": 999999}, format="json"
        ).status_code
        == 400
    )


def test_a_put_is_not_allowed(as_technician, world):
    assert as_technician.put(f"{URL}{world['faulted'].pk}/", {}, format="json").status_code == 405


def test_comments(as_technician, technician, world):
    url = f"{URL}{world['faulted'].pk}/comments/"

    response = as_technician.post(url, {"text": "Cable replaced."}, format="json")

    assert response.status_code == 201
    assert response.json()["kind"] == "comment"
    entry = TicketEntry.objects.get(pk=response.json()["id"])
    assert (entry.text, entry.author) == ("Cable replaced.", technician)
    assert as_technician.post(url, {"text": "  "}, format="json").status_code == 400
    assert as_technician.post(url, {}, format="json").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "{id}/"), ("patch", "{id}/"), ("post", "{id}/comments/")],
)
def test_an_unknown_ticket_is_a_404(as_technician, world, method, path):
    response = getattr(as_technician, method)(
        URL + path.format(id=999999), {"text": "x"}, format="json"
    )
    assert response.status_code == 404


def test_support_reads_but_does_not_change_or_comment(make_user, client_for, world):
    support = client_for(
        make_user("operations.view_ticket", "operations.view_ticketentry", is_staff=True)
    )
    ticket = world["faulted"].pk

    assert support.get(URL).status_code == 200
    assert support.patch(f"{URL}{ticket}/", {"status": "closed"}, format="json").status_code == 403
    comment = support.post(f"{URL}{ticket}/comments/", {"text": "hi"}, format="json")
    assert comment.status_code == 403


def test_drivers_and_staff_without_the_permission_get_403(make_user, client_for, anonymous, world):
    assert anonymous.get(URL).status_code == 401
    assert client_for(make_user("operations.view_ticket")).get(URL).status_code == 403
    assert client_for(make_user(is_staff=True)).get(URL).status_code == 403


@override_settings(OPERATIONS_REPAIR_WAIT=5)
def test_staff_who_may_send_commands_start_the_remote_repair(make_user, client_for, db_access):
    """As the admin's button: the task runs inline here (a worker runs it in production);
    the charger is offline, so it gets every step and the ticket stays open."""
    charge_point = register("API-REPAIR", is_connected=False)
    ticket, _ = tickets.raise_fault(Ticket.Kind.OFFLINE, title="offline", charge_point=charge_point)
    url = f"{URL}{ticket.pk}/repair/"
    support = client_for(
        make_user("operations.view_ticket", "operations.change_ticket", is_staff=True)
    )
    commands_only = client_for(make_user("stations.send_commands", is_staff=True))
    assert support.post(url).status_code == 403
    assert commands_only.post(url).status_code == 403
    technician = make_user("operations.view_ticket", "stations.send_commands", is_staff=True)
    api = client_for(technician)

    response = api.post(url)

    assert response.status_code == 202, response.content
    assert response.json() == {
        "detail": "Remote repair started: its steps appear on the ticket as they run.",
        "steps": ["TriggerMessage StatusNotification", "Soft reset", "Hard reset"],
    }
    entries = TicketEntry.objects.filter(ticket=ticket, kind=TicketEntry.Kind.REPAIR)
    assert [entry.author for entry in entries] == [technician] * 5
    assert entries.last().data == {"phase": "finished", "recovered": False}

    tickets.resolve(ticket, "Fixed on site.")
    refused = api.post(url)
    assert refused.status_code == 409
    assert refused.json() == {"detail": "This ticket is resolved already."}
    assert api.post(f"{URL}999999/repair/").status_code == 404
    assert entries.count() == 5
