"""`manage.py load_demo`: the data `make run` shows, safe to run again, DEBUG only."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from stations.management.commands.load_demo import (
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_CHARGER_PASSWORD,
)
from stations.models import ChargePoint, Connector, Site
from users.models import IdToken, User

pytestmark = pytest.mark.django_db


def load_demo() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        model.__name__: sorted(
            (model_to_dict(row) | {"pk": row.pk} for row in model.objects.all()),
            key=lambda row: row["pk"],
        )
        for model in (Site, ChargePoint, Connector, IdToken, User)
    }


def test_load_demo_creates_a_stockholm_site_with_three_chargers_of_two_connectors(settings):
    settings.DEBUG = True
    output = load_demo()

    site = Site.objects.get()
    assert site.city == "Stockholm"
    assert site.time_zone == "Europe/Stockholm"
    assert site.latitude is not None and site.longitude is not None
    charge_points = list(ChargePoint.objects.order_by("charge_point_id"))
    assert [cp.charge_point_id for cp in charge_points] == ["DEMO-001", "DEMO-002", "DEMO-003"]
    for charge_point in charge_points:
        assert charge_point.site == site
        assert charge_point.check_password(DEMO_CHARGER_PASSWORD)
        connectors = charge_point.connectors.order_by("connector_id")
        assert [(c.connector_id, c.connector_type, int(c.max_power_kw)) for c in connectors] == [
            (1, "Type2", 22),
            (2, "CCS2", 150),
        ]
    assert IdToken.objects.filter(type=IdToken.Type.RFID).count() >= 2
    assert "DEMO-001" in output and DEMO_CHARGER_PASSWORD in output
    assert DEMO_ADMIN_EMAIL in output and DEMO_ADMIN_PASSWORD in output


def test_demo_admin_can_log_in_to_admin(settings, client):
    settings.DEBUG = True
    load_demo()

    admin = authenticate(email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD)
    assert admin is not None and admin.is_superuser and admin.is_staff
    assert client.login(email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD)
    assert client.get("/admin/").status_code == 200


def test_running_load_demo_twice_changes_nothing(settings):
    settings.DEBUG = True
    load_demo()
    before = snapshot()

    load_demo()

    assert snapshot() == before


def test_load_demo_keeps_a_password_the_admin_chose(settings):
    settings.DEBUG = True
    load_demo()
    admin = User.objects.get(email=DEMO_ADMIN_EMAIL)
    admin.set_password("my-own-much-better-password")
    admin.save()

    output = load_demo()

    assert authenticate(email=DEMO_ADMIN_EMAIL, password="my-own-much-better-password")
    assert "left as it is" in output


def test_load_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        load_demo()

    assert not User.objects.exists()
    assert not ChargePoint.objects.exists()
