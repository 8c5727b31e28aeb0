"""The optional read replica (DATABASE_REPLICA_URL, chargehub/databases.py): the message log
in admin and the reports read from it, everything else from the primary.

The "replica" here is a second connection to the same test database: this proves where
each query goes (routing), not replication itself, which is PostgreSQL's.
"""

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chargehub.databases import REPLICA
from stations.models import OcppMessage
from users.models import User


@pytest.fixture(scope="module", autouse=True)
def replica(django_db_setup: None) -> Iterator[None]:
    """A replica alias on the test database, as DATABASE_REPLICA_URL adds one."""
    connections.settings[REPLICA] = dict(connections["default"].settings_dict)
    try:
        yield
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


# Committed rows (another connection reads them), on both aliases.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(email="replica@example.com", password="x"))
    return client


def tables_read(queries: CaptureQueriesContext) -> str:
    return " ".join(query["sql"] for query in queries.captured_queries)


@pytest.mark.parametrize(
    ("page", "table"),
    [
        ("/admin/stations/ocppmessage/", "stations_ocppmessage"),
        ("/admin/insights/dashboard/utilisation/", "insights_"),
        ("/admin/operations/uptimemonth/", "operations_uptimemonth"),
    ],
    ids=["message-log", "insights", "uptime"],
)
def test_the_message_log_and_reports_read_from_the_replica(staff, page, table):
    OcppMessage.objects.create(
        charge_point_id="ON-REPLICA", direction="in", message_type=2, action="Heartbeat", frame="[]"
    )
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as copy,
    ):
        response = staff.get(page)
    assert response.status_code == 200
    assert table in tables_read(copy)
    assert table not in tables_read(primary)
    if table == "stations_ocppmessage":
        assert b"ON-REPLICA" in response.content


def test_who_may_see_a_replica_page_is_read_on_the_primary():
    # A permission just taken away must not pass for as long as the replica lags.
    member = User.objects.create_user(email="log-reader@example.com", password="x", is_staff=True)
    member.user_permissions.add(Permission.objects.get(codename="view_ocppmessage"))
    client = Client()
    client.force_login(member)
    with CaptureQueriesContext(connections[REPLICA]) as copy:
        assert client.get("/admin/stations/ocppmessage/").status_code == 200
    read = tables_read(copy)
    assert "stations_ocppmessage" in read
    assert "users_user" not in read and "auth_" not in read and "django_session" not in read


def test_other_pages_and_every_write_use_the_primary(staff):
    with CaptureQueriesContext(connections[REPLICA]) as copy:
        assert staff.get("/admin/stations/chargepoint/").status_code == 200
        OcppMessage.objects.create(
            charge_point_id="PRIMARY", direction="in", message_type=2, frame="[]"
        )
        assert OcppMessage.objects.filter(charge_point_id="PRIMARY").exists()
    assert copy.captured_queries == []
