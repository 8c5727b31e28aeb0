"""A charger's admin page, as operations adds to it: the last 7 days of each connector as
coloured periods (offline over status), its open tickets, last boot, firmware, last message."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from operations import timeline
from operations.models import Ticket
from operations.timeline import OFFLINE, UNKNOWN, Period, periods
from stations.models import ConnectionEvent, StatusEvent
from tests.operations.network import charger

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
END = T0 + timedelta(days=7)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_periods_follow_the_status_with_offline_over_it():
    result = periods(
        T0,
        END,
        "Available",
        [(h(10), "Charging"), (h(12), "Available"), (h(30), "Faulted"), (h(40), "Available")],
        True,
        [(h(35), False), (h(50), True)],
    )
    assert result == [
        Period("Available", T0, h(10)),
        Period("Charging", h(10), h(12)),
        Period("Available", h(12), h(30)),
        Period("Faulted", h(30), h(35)),
        # Offline from 35 to 50, whatever it said before it went.
        Period(OFFLINE, h(35), h(50)),
        Period("Available", h(50), END),
    ]


def test_periods_before_anything_is_known_and_events_outside_the_window():
    statuses = [(T0 - timedelta(days=1), "Faulted"), (h(5), "Available"), (END, "Faulted")]

    assert periods(T0, END, None, statuses, None, []) == [
        Period(UNKNOWN, T0, h(5)),
        Period("Available", h(5), END),
    ]
    # Its first connection in the window: offline until then, as uptime counts it.
    assert periods(T0, END, None, statuses, None, [(h(5), True)]) == [
        Period(OFFLINE, T0, h(5)),
        Period("Available", h(5), END),
    ]


def test_periods_show_connector_zero_down_over_the_connectors_own_status():
    """Connector 0 is the whole charger: Faulted there, every connector is out of order."""
    result = periods(
        T0,
        END,
        "Available",
        [(h(10), "Charging"), (h(20), "Available")],
        True,
        [(h(30), False), (h(40), True)],
        "Available",
        [(h(15), "Faulted"), (h(35), "Available")],
    )
    assert result == [
        Period("Available", T0, h(10)),
        Period("Charging", h(10), h(15)),
        Period("Faulted", h(15), h(30)),
        Period(OFFLINE, h(30), h(40)),
        Period("Available", h(40), END),
    ]


def test_periods_offline_since_before_the_window_and_a_change_at_its_start():
    result = periods(
        T0, END, "Available", [(T0, "Faulted"), (h(1), "Faulted")], False, [(h(2), True)]
    )
    assert result == [Period(OFFLINE, T0, h(2)), Period("Faulted", h(2), END)]


@pytest.fixture
def staff_client(make_user) -> Client:
    client = Client()
    client.force_login(
        make_user("stations.view_chargepoint", "stations.change_chargepoint", is_staff=True)
    )
    return client


@pytest.mark.django_db
def test_charger_page_shows_timeline_open_tickets_last_boot_firmware_and_last_message(
    staff_client,
):
    charge_point = charger(None, "Faulted", "Available", charge_point_id="PAGE-1")
    now = datetime.now(UTC)
    charge_point.firmware_version = "4.2.0"
    charge_point.last_boot_at = now - timedelta(hours=3)
    charge_point.save()
    one, two = charge_point.connectors.order_by("connector_id")
    # Before the window: what connector 1 was doing when it began.
    StatusEvent.objects.create(connector=one, status="Available", timestamp=now - timedelta(days=9))
    StatusEvent.objects.create(connector=one, status="Faulted", timestamp=now - timedelta(days=2))
    StatusEvent.objects.create(connector=two, status="Available", timestamp=now - timedelta(days=3))
    ConnectionEvent.objects.create(
        charge_point=charge_point, kind="disconnected", at=now - timedelta(days=1, hours=2)
    )
    ConnectionEvent.objects.create(
        charge_point=charge_point, kind="connected", at=now - timedelta(days=1)
    )
    open_ticket = Ticket.objects.create(
        kind="faulted", title="Connector 1 faulted", charge_point=charge_point, connector=one
    )
    Ticket.objects.create(
        kind="offline", title="Was offline", charge_point=charge_point, status="resolved"
    )

    response = staff_client.get(
        reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
    )
    assert response.status_code == 200
    page = response.content.decode()
    panel = page[page.index('class="module charger-operations"') :]
    assert 'data-fact="firmware_version">4.2.0<' in panel
    assert 'data-fact="online">yes<' in panel
    assert 'data-fact="last_boot_at">—<' not in panel
    assert 'data-fact="last_seen_at">—<' not in panel
    assert f'data-ticket="{open_ticket.pk}"' in panel and "Connector 1 faulted" in panel
    assert "Was offline" not in panel

    def states(connector_id: int) -> list[str]:
        bar = panel[panel.index(f'data-connector="{connector_id}"') :]
        bar = bar[: bar.index("</svg>")]
        return re.findall(r'<rect [^>]*data-state="([^"]+)"', bar)

    assert states(1) == ["Available", "Faulted", "Offline", "Faulted"]
    assert states(2) == ["Unknown", "Available", "Offline", "Available"]
    # The bar's numbers are SVG's, never localised, and span the whole width.
    widths = re.findall(r'<rect x="[\d.]+" y="0" width="([\d.]+)"', panel)
    assert abs(sum(float(w) for w in widths[:4]) - 1000) < 0.1


@pytest.mark.django_db
def test_charger_page_reads_the_timeline_in_a_fixed_number_of_queries(django_assert_num_queries):
    charge_point = charger(None, "Available", "Available", "Faulted")
    for connector in charge_point.connectors.all():
        for n in range(20):
            StatusEvent.objects.create(
                connector=connector,
                status="Faulted" if n % 2 else "Available",
                timestamp=datetime.now(UTC) - timedelta(hours=n * 5),
            )
    with django_assert_num_queries(4):
        start, end, connectors = timeline.charger_timeline(charge_point)
    assert [c.connector_id for c in connectors] == [1, 2, 3]
    assert end - start == timedelta(days=7)
