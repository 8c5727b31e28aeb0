"""The network dashboard: counts per site and in total, what needs attention first, a page
that costs the same few queries however big the network, and who may see it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from operations import dashboard
from operations.dashboard import Attention, by_impact
from operations.models import Ticket
from stations.models import ChargePoint, Site
from tests.operations.network import charger
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user("stations.view_chargepoint", is_staff=True))
    return client


def _depots() -> tuple[Site, Site]:
    north, south = Site.objects.create(name="North"), Site.objects.create(name="South")
    charger(north, "Available", "Charging")
    charger(north, "Faulted", "SuspendedEV", kw="150")
    charger(north, "Available", "Available", online=False)
    charger(south, "Unavailable", "Preparing")
    charger(None, "Available")
    # Not part of the network (yet): waiting for approval.
    pending = charger(south, "Available")
    ChargePoint.objects.filter(pk=pending.pk).update(registration_status="Pending")
    return north, south


def _row(network: dashboard.Network, site: Site | None) -> dict:
    row = next(r for r in network.sites if r.site_id == (site.pk if site else None))
    return {
        "chargers_online": row.counts.chargers_online,
        "chargers_offline": row.counts.chargers_offline,
        **dict(row.counts.by_state),
    }


def test_dashboard_counts_chargers_and_connectors_per_site_and_in_total(staff_client):
    north, south = _depots()
    response = staff_client.get(reverse("operations:dashboard"))
    assert response.status_code == 200
    network = response.context["network"]
    assert _row(network, north) == {
        "chargers_online": 2,
        "chargers_offline": 1,
        "offline": 2,
        "faulted": 1,
        "charging": 2,
        "available": 1,
        "unavailable": 0,
    }
    assert _row(network, south) == {
        "chargers_online": 1,
        "chargers_offline": 0,
        "offline": 0,
        "faulted": 0,
        "charging": 1,
        "available": 0,
        "unavailable": 1,
    }
    assert _row(network, None)["available"] == 1
    total = network.total
    assert (total.chargers_online, total.chargers_offline, total.connector_total) == (4, 1, 9)
    assert dict(total.by_state) == {
        "offline": 2,
        "faulted": 1,
        "charging": 3,
        "available": 2,
        "unavailable": 1,
    }
    page = response.content.decode()
    assert f'<tr data-site="{north.pk}">' in page
    assert '<td data-state="faulted" class="state-faulted">1</td>' in page


def test_connector_zero_faulted_puts_every_connector_of_the_charger_out_of_order(staff_client):
    site = Site.objects.create(name="Whole charger")
    charge_point = charger(site, "Available", "Charging")
    charge_point.connectors.create(connector_id=0, status="Faulted")
    network = dashboard.network()
    assert dict(network.total.by_state)["faulted"] == 2
    assert network.attention[0].connectors_down == (1, 2)


def test_needs_attention_lists_offline_and_faulted_chargers_with_their_open_tickets(staff_client):
    site = Site.objects.create(name="Attention")
    offline = charger(site, "Available", online=False, charge_point_id="NET-OFF")
    faulted = charger(site, "Faulted", "Available", charge_point_id="NET-FAULT")
    charger(site, "Available", charge_point_id="NET-FINE")
    Ticket.objects.create(kind="faulted", title="Broken", charge_point=faulted, site=site)
    network = staff_client.get(reverse("operations:dashboard")).context["network"]
    rows = {row.charge_point_id: row for row in network.attention}
    assert set(rows) == {"NET-OFF", "NET-FAULT"}
    assert (rows["NET-OFF"].problem, rows["NET-OFF"].connectors_down) == ("offline", (1,))
    assert rows["NET-OFF"].down_since == offline.disconnected_at
    assert (rows["NET-FAULT"].problem, rows["NET-FAULT"].connectors_down) == ("faulted", (1,))
    assert rows["NET-FAULT"].open_tickets == 1
    assert not rows["NET-FAULT"].site_all_down


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _attention(name: str, *, all_down: bool = False, fast: bool = False, hours: float = 1):
    return Attention(
        charge_point_pk=0,
        charge_point_id=name,
        site_name="",
        problem="faulted",
        connectors_down=(1,),
        fast=fast,
        down_since=T0 - timedelta(hours=hours),
        site_all_down=all_down,
    )


def test_needs_attention_puts_dead_sites_first_then_fast_chargers_then_the_longest_down():
    rows = [
        _attention("slow-new", hours=1),
        _attention("fast-new", fast=True, hours=1),
        _attention("slow-old", hours=30),
        _attention("dead-site-slow", all_down=True, hours=2),
        _attention("fast-old", fast=True, hours=5),
        _attention("dead-site-fast", all_down=True, fast=True, hours=1),
        _attention("slow-mid", hours=3),
    ]
    unknown = Attention(**{**_attention("slow-unknown").__dict__, "down_since": None})
    ordered = [row.charge_point_id for row in by_impact([*rows, unknown])]
    assert ordered == [
        "dead-site-fast",
        "dead-site-slow",
        "fast-old",
        "fast-new",
        "slow-unknown",  # down since no one knows when: as if the longest
        "slow-old",
        "slow-mid",
        "slow-new",
    ]


def test_a_site_with_every_connector_down_is_marked_and_tops_the_list(staff_client):
    dead, alive = Site.objects.create(name="Dead"), Site.objects.create(name="Alive")
    charger(alive, "Faulted", "Available", kw="350", since=T0 - timedelta(days=3))
    charger(dead, "Faulted", kw="11")
    charger(dead, "Available", online=False, kw="11")
    network = dashboard.network()
    assert [row.site_name for row in network.attention] == ["Dead", "Dead", "Alive"]
    assert all(row.site_all_down for row in network.attention[:2])


def _page_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url_name", ["operations:dashboard", "operations:dashboard-live"])
def test_the_dashboard_costs_the_same_queries_for_ten_chargers_or_sixty(
    staff_client, django_assert_max_num_queries, url_name
):
    url = reverse(url_name)
    sites = [Site.objects.create(name=f"Q{n}") for n in range(5)]
    for n in range(10):
        charge_point = charger(sites[n % 5], "Available", "Faulted", online=n % 3 > 0)
        Ticket.objects.create(kind="faulted", title="x", charge_point=charge_point)
    few = _page_queries(staff_client, url)
    for n in range(50):
        charger(sites[n % 5], "Charging", "Available", online=n % 4 > 0)
    assert _page_queries(staff_client, url) == few
    # The session, the user and their permissions, then the network's four.
    with django_assert_max_num_queries(8):
        staff_client.get(url)


def test_the_admin_home_shows_the_network_first_and_links_the_dashboard(staff_client):
    _depots()
    page = staff_client.get(reverse("admin:index")).content.decode()
    # Before the list of apps and models.
    assert page.index('class="module network-home"') < page.index('class="app-')
    assert f'href="{reverse("operations:dashboard")}"' in page
    assert "2 chargers need attention" in page
    assert reverse("operations:dashboard-live") + "?part=counts" in page


def test_the_live_fragment_is_the_figures_alone(staff_client):
    _depots()
    counts = staff_client.get(reverse("operations:dashboard-live"), {"part": "counts"})
    assert b'<table class="network-counts">' in counts.content
    assert b"needs-attention" not in counts.content
    whole = staff_client.get(reverse("operations:dashboard-live")).content
    assert b'<table class="needs-attention">' in whole
    assert b"<html" not in whole


def test_only_staff_who_may_view_charge_points_see_the_network(make_user):
    urls = [reverse("operations:dashboard"), reverse("operations:dashboard-live")]
    anonymous = Client()
    for url in urls:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    driver, staff_without = Client(), Client()
    driver.force_login(make_user())
    staff_without.force_login(make_user(is_staff=True))
    for url in urls:
        assert driver.get(url).status_code == 302  # the admin's login page: not staff
        assert staff_without.get(url).status_code == 403
    # The admin home without the permission: no network on it.
    assert b"network-home" not in staff_without.get(reverse("admin:index")).content


def test_a_superuser_sees_the_dashboard():
    user = User.objects.create_superuser("boss@example.com", "x" * 20)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("operations:dashboard")).status_code == 200


def test_the_dashboard_speaks_swedish(staff_client):
    _depots()
    page = staff_client.get(
        reverse("operations:dashboard"), headers={"accept-language": "sv"}
    ).content.decode()
    assert "Behöver åtgärdas" in page and "Laddare online" in page
