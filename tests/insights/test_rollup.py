"""The summaries roll up incrementally (only what is new) and equal a full rebuild."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from billing.models import BillingAccount, SessionCharge
from insights import history, rollup
from insights.models import ConnectorHour, CustomerKind, DriverMonth, SessionMix, SiteDay
from tests.insights.small_history import no_show_fee

pytestmark = pytest.mark.django_db


def summaries() -> dict[str, list[dict]]:
    def rows(model, key):
        return sorted(
            (
                {k: v for k, v in model_to_dict(row).items() if k != "id"}
                for row in model.objects.all()
            ),
            key=key,
        )

    return {
        "hours": rows(ConnectorHour, lambda r: (r["connector"], r["hour"])),
        "days": rows(
            SiteDay,
            lambda r: (
                r["site"],
                r["day"],
                r["connector_type"],
                r["method"],
                r["customer_kind"],
                r["customer_group"],
            ),
        ),
        "months": rows(DriverMonth, lambda r: (r["user"], r["month"])),
        "mixes": rows(
            SessionMix,
            lambda r: (
                r["site"],
                r["day"],
                r["connector_type"],
                r["power_class"],
                r["length_minutes"],
                r["energy_kwh"],
            ),
        ),
    }


def test_rolling_up_in_parts_reads_only_new_charges_and_equals_rebuild_insights():
    size = history.HistorySize(sites=2, chargers_per_site=2, days=14, drivers=30)
    history.generate(seed=3, size=size, end=datetime(2026, 5, 4, tzinfo=UTC))
    total = SessionCharge.objects.count()
    assert total > 100
    assert rollup.roll_up(limit=total // 3) == total // 3
    assert rollup.roll_up() == total - total // 3  # the rest, not again the first third
    assert rollup.roll_up() == 0  # nothing new
    # Later, two no-show fees: one onto a row already rolled up (the same site, day,
    # method and driver as a session), one a fleet's.
    paid = SessionCharge.objects.filter(
        session__id_token__owner__customer_groups__isnull=True, method="card"
    )
    seen = paid.select_related("session__id_token", "session__connector").first()
    no_show_fee(seen.session.connector, seen.session.started_at, seen.session.id_token, "card",
                "30.00", account=seen.account)  # fmt: skip
    fleet = BillingAccount.objects.filter(fleet__isnull=False).first()
    member = fleet.fleet.members.first().id_tokens.first()
    no_show_fee(seen.session.connector, seen.session.started_at, member, "invoice", "50.00",
                SessionCharge.Status.TO_INVOICE, fleet)  # fmt: skip
    before = SiteDay.objects.get(
        site=seen.session.charge_point.site_id,
        day=seen.session.started_at.astimezone(ZoneInfo("Europe/Stockholm")).date(),
        connector_type=seen.session.connector.connector_type,
        method="card",
        customer_kind=CustomerKind.DRIVER,
        customer_group="",
    )
    assert rollup.roll_up() == 2
    gross = before.gross
    before.refresh_from_db()
    assert (before.fees, before.fee_gross, before.gross - gross) == (1, 30, Decimal("30.00"))
    incremental = summaries()
    assert sum(row["sessions"] for row in incremental["days"]) == total
    assert sum(row["sessions"] for row in incremental["mixes"]) == total
    assert sum(row["fees"] for row in incremental["days"]) == 2
    assert sum(row["gross"] for row in incremental["days"]) == sum(
        SessionCharge.objects.values_list("gross", flat=True)
    )
    out = StringIO()
    call_command("rebuild_insights", stdout=out)
    assert str(total + 2) in out.getvalue()
    assert summaries() == incremental


def test_a_rebuild_tells_postgresql_the_new_size_of_the_summaries(db):
    """The dashboards' plans read the planner's row estimates: a rebuilt table that still
    counts as empty is read through an index, several times slower on a year of data."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the planner's statistics are PostgreSQL's")
    size = history.HistorySize(sites=1, chargers_per_site=2, days=3, drivers=10)
    history.generate(seed=5, size=size, end=datetime(2026, 5, 4, tzinfo=UTC))

    rollup.rebuild()

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'insights_connectorhour'")
        (estimate,) = cursor.fetchone()
    assert estimate == ConnectorHour.objects.count() > 0
