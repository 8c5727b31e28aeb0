"""Drivers turned away at a charger: an Authorize or a StartTransaction refused there is
counted at its site (dashboards, site planning), and `rebuild_insights` recomputes the
refusals from the message log."""

from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from insights import figures, planning_data
from insights.models import RefusedStart
from stations.models import Connector, OcppMessage, Site
from tests.conftest import eventually, register
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken


def _site_with_charger(name: str, charge_point_id: str) -> Site:
    site = Site.objects.create(name=name)
    charge_point = register(charge_point_id, site=site)
    Connector.objects.create(charge_point=charge_point, connector_id=1)
    IdToken.objects.create(uid="TA-OK")
    IdToken.objects.create(uid="TA-BLOCKED", status=IdToken.Status.BLOCKED)
    return site


def _refusals() -> list[tuple]:
    return sorted(
        RefusedStart.objects.values_list(
            "site__name", "charge_point__charge_point_id", "connector_id", "action", "status"
        )
    )


def _answers_logged(charge_point_id: str) -> int:
    return OcppMessage.objects.filter(
        charge_point_id=charge_point_id,
        direction=OcppMessage.Direction.OUT,
        action__in=["Authorize", "StartTransaction"],
    ).count()


async def test_an_authorize_and_a_start_refused_at_a_real_charger_are_turned_away_at_its_site(
    charger,
):
    site = await sync_to_async(_site_with_charger)("Refusal Square", "TA-1")
    # The log reaches back further than this test (OCPP_MESSAGE_LOG_DAYS).
    await sync_to_async(OcppMessage.objects.create)(
        charge_point_id="TA-1", direction="in", message_type=2, action="Heartbeat", frame="[]",
        created_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    start = {"connectorId": 1, "idTag": "TA-BLOCKED", "meterStart": 0, "timestamp": iso(ago())}
    async with charger("TA-1") as cp:
        await cp.boot()
        accepted = await send(cp, "Authorize", {"idTag": "TA-OK"})
        assert accepted["idTagInfo"]["status"] == "Accepted"
        unknown = await send(cp, "Authorize", {"idTag": "NOBODY-TA"})
        assert unknown["idTagInfo"]["status"] == "Invalid"
        first = await send(cp, "StartTransaction", start)
        assert first["idTagInfo"]["status"] == "Blocked"
        # Resent after a lost answer: the same transaction, not a second driver.
        again = await send(cp, "StartTransaction", start)
        assert again["transactionId"] == first["transactionId"]

    expected = [
        ("Refusal Square", "TA-1", 0, "Authorize", "Invalid"),
        ("Refusal Square", "TA-1", 1, "StartTransaction", "Blocked"),
    ]
    # Recorded after the handler's commit, before the answer: no waiting needed.
    assert await sync_to_async(_refusals)() == expected

    today = timezone.localdate()
    scope = figures.Scope(start=today - timedelta(days=1), end=today)
    by_site = await sync_to_async(figures.turned_away_by_site)(scope)
    assert by_site.rows == [["Refusal Square", 1, 1, 2]]
    per_day = await sync_to_async(figures.turned_away)(scope)
    assert sum(row[2] for row in per_day.rows) == 2
    window = (timezone.now() - timedelta(hours=1), timezone.now() + timedelta(hours=1))
    planned = await sync_to_async(planning_data.turned_away)([site.pk], *window)
    assert planned == {site.pk: 2}

    # The frames are in the message log (written in batches): rebuild from them.
    assert await eventually(lambda: _answers_logged("TA-1") == 4, timeout=30)
    before = await sync_to_async(
        lambda: {(r.action, r.at) for r in RefusedStart.objects.filter(action="StartTransaction")}
    )()
    await sync_to_async(RefusedStart.objects.all().delete)()
    out = StringIO()
    await sync_to_async(call_command)("rebuild_insights", stdout=out)
    assert "Starts refused at chargers recomputed from the message log: 2." in out.getvalue()
    assert await sync_to_async(_refusals)() == expected
    after = await sync_to_async(
        lambda: {(r.action, r.at) for r in RefusedStart.objects.filter(action="StartTransaction")}
    )()
    assert after == before  # the start counts when the charger says it began


@pytest.mark.django_db
def test_refusals_older_than_the_message_log_are_kept_by_a_rebuild():
    site = _site_with_charger("Old Refusals", "TA-OLD")
    old = timezone.now() - timedelta(days=60)
    RefusedStart.objects.create(
        site=site,
        charge_point=site.charge_points.get(),
        action="Authorize",
        status="Blocked",
        at=old,
    )
    OcppMessage.objects.create(
        charge_point_id="TA-OLD", direction="in", message_type=2, action="Heartbeat", frame="[]"
    )
    call_command("rebuild_insights", stdout=StringIO())
    assert list(RefusedStart.objects.values_list("at", flat=True)) == [old]


@pytest.mark.django_db
def test_the_dashboard_and_site_planning_count_the_same_refusals_per_site_and_window():
    here = Site.objects.create(name="Here")
    there = Site.objects.create(name="There")
    monday = datetime(2026, 3, 2, tzinfo=ZoneInfo("Europe/Stockholm"))
    for site, action, at in [
        (here, "Authorize", monday),
        (here, "StartTransaction", monday + timedelta(hours=23, minutes=59)),
        (here, "Authorize", monday + timedelta(days=1)),  # Tuesday: outside
        (there, "Authorize", monday + timedelta(hours=12)),
    ]:
        charge_point = register(f"TA-{site.name}-{at:%d%H%M}", site=site)
        RefusedStart.objects.create(
            site=site, charge_point=charge_point, action=action, status="Invalid", at=at
        )
    one_day = figures.Scope(start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert figures.turned_away_by_site(one_day).rows == [
        ["Here", 1, 1, 2],
        ["There", 1, 0, 1],
    ]
    at_here = figures.Scope(start=date(2026, 3, 2), end=date(2026, 3, 2), site=here)
    assert figures.turned_away_by_site(at_here).rows == [["Here", 1, 1, 2]]
    assert [row[2] for row in figures.turned_away(at_here).rows] == [2]
    planned = planning_data.turned_away([here.pk, there.pk], monday, monday + timedelta(days=1))
    assert planned == {here.pk: 2, there.pk: 1}
