"""Hand-made chargers, sessions and staff for the forecast, maintenance and planning tests."""

from datetime import datetime
from decimal import Decimal
from io import StringIO
from itertools import count

from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from stations.models import ChargePoint, ChargingSession, Connector, Site
from users import roles
from users.models import User

_numbers = count(1)


def site_with(
    connectors: int,
    *,
    model: str = "M1",
    chargers: int = 1,
    lat: str = "59.33",
    lon: str = "18.06",
    name: str = "",
) -> Site:
    """A site with `chargers` chargers of `model`, each with `connectors` connectors."""
    number = next(_numbers)
    site = Site.objects.create(
        name=name or f"Site {number}", latitude=Decimal(lat), longitude=Decimal(lon)
    )
    for c in range(chargers):
        charge_point = ChargePoint.objects.create(
            charge_point_id=f"CP-{number}-{c}", site=site, model=model
        )
        for connector_id in range(1, connectors + 1):
            Connector.objects.create(
                charge_point=charge_point, connector_id=connector_id, max_power_kw=Decimal("22")
            )
    return site


def session(
    connector: Connector, started: datetime, stopped: datetime | None, energy_wh: int = 5000
) -> ChargingSession:
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=f"TAG{next(_numbers)}",
        started_at=started,
        meter_start_wh=0,
        stopped_at=stopped,
        meter_stop_wh=energy_wh if stopped else None,
        energy_wh=energy_wh if stopped else None,
        status=ChargingSession.Status.COMPLETED if stopped else ChargingSession.Status.ACTIVE,
    )


def staff_client(role: roles.Role) -> Client:
    """A logged-in member of staff in `role` (the roles set up as `setup_roles` does)."""
    call_command("setup_roles", stdout=StringIO())
    user = User.objects.create_user(
        f"{role.name.lower().replace(' ', '-')}{next(_numbers)}@example.com", "x", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role.name))
    client = Client()
    client.force_login(user)
    return client
