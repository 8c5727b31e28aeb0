"""The summaries roll up incrementally (only what is new) and equal a full rebuild."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from billing.models import SessionCharge
from insights import history, rollup
from insights.models import ConnectorHour, DriverMonth, SessionMix, SiteDay

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
    incremental = summaries()
    assert sum(row["sessions"] for row in incremental["days"]) == total
    assert sum(row["sessions"] for row in incremental["mixes"]) == total
    out = StringIO()
    call_command("rebuild_insights", stdout=out)
    assert str(total) in out.getvalue()
    assert summaries() == incremental
