"""Finished charging sessions in the database, for billing tests that start after the
charger is done (the OCPP side has its own tests, and billing's full path test drives
a real charger)."""

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from django.utils import timezone

from billing.models import Tariff, TariffAssignment
from stations.models import (
    Booking,
    ChargePoint,
    ChargingSession,
    Connector,
    MeterSample,
    Reservation,
    Site,
)
from users.models import IdToken, User

_numbers = count(1)


def charging_site(name: str = "Lindholmen", **tariff_fields: object) -> Connector:
    """A site with one charger, one connector and a tariff (1 SEK per kWh net unless
    given), assigned to the site."""
    site = Site.objects.create(name=f"{name} {next(_numbers)}", time_zone="Europe/Stockholm")
    charge_point = ChargePoint.objects.create(
        charge_point_id=f"BILL-CP-{next(_numbers)}", site=site
    )
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    tariff = Tariff.objects.create(
        name=f"Standard {next(_numbers)}",
        **{"price_per_kwh": Decimal(1), **tariff_fields},
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    return connector


def token_of(user: User | None, uid: str | None = None) -> IdToken:
    return IdToken.objects.create(uid=uid or f"TAG{next(_numbers)}", owner=user)


def finished_session(
    connector: Connector,
    token: IdToken,
    *,
    started_at: datetime,
    wh: int,
    minutes: int = 60,
) -> ChargingSession:
    """A session that delivered `wh` Wh over `minutes`, as StopTransaction leaves it."""
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=token.uid,
        id_token=token,
        status=ChargingSession.Status.COMPLETED,
        started_at=started_at,
        stopped_at=started_at + timedelta(minutes=minutes),
        meter_start_wh=1000,
        meter_stop_wh=1000 + wh,
        energy_wh=wh,
        closed_by="charger",
    )


def meter_sample(
    session: ChargingSession,
    measurand: str,
    value: str,
    unit: str,
    *,
    minutes_after_start: int = 10,
    **fields: Any,
) -> MeterSample:
    """A numeric sample of a session, `minutes_after_start` into it."""
    return MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=session.connector.connector_id,
        session=session,
        timestamp=session.started_at + timedelta(minutes=minutes_after_start),
        measurand=measurand,
        unit=unit,
        value=value,
        value_decimal=Decimal(value),
        **fields,
    )


def missed_booking(
    driver: User,
    connector: Connector,
    *,
    uid: str | None = None,
    ago: timedelta = timedelta(0),
    hold: str = Reservation.Status.ACCEPTED,
) -> Booking:
    """A booking whose hour-long slot ended `ago`, that the charger held for the driver
    (`hold`: the reservation's status now) and that the driver never used."""
    ends_at = timezone.now() - ago
    token = token_of(driver, uid)
    reservation = Reservation.objects.create(
        charge_point=connector.charge_point,
        connector_id=connector.connector_id,
        id_tag=token.uid,
        expires_at=ends_at,
        status=hold,
    )
    return Booking.objects.create(
        connector=connector,
        user=driver,
        id_token=token,
        starts_at=ends_at - timedelta(hours=1),
        ends_at=ends_at,
        hold_claimed_at=ends_at - timedelta(hours=1, minutes=15),
        reservation=reservation,
    )
