"""What a driver does from the portal: start and stop charging, and what a session shows.

The views only translate these outcomes into pages. Starting asks billing first
(billing.standing: the same rule a charger's Authorize meets), then the charger
(stations.operations.remote_start). A start the charger accepts has no session yet:
the session exists once the car takes the charge (StartTransaction).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import standing, tariffs
from billing.pricing import Price
from stations import operations
from stations.models import ChargingSession, Connector
from stations.ocpp import commands
from users.models import IdToken, User

SOURCE = "portal"


class ChargingRefused(Exception):
    """A start or stop that did not happen; str() is for the driver, `status` for HTTP.

    409: the request conflicts with the state of things (money, the charger said no);
    502: the charger could not be reached or answered badly.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def usable_tokens(user: User) -> QuerySet[IdToken]:
    """The driver's tokens a charger would accept now."""
    now = timezone.now()
    return (
        IdToken.objects.filter(owner=user, status=IdToken.Status.ACCEPTED)
        .exclude(expires_at__lte=now)
        .order_by("type", "uid")
    )


def _new_app_uid() -> str:
    # An OCPP 1.6 idTag is a CiString20; "APP" and 16 hex digits fit, and cannot be
    # guessed from the driver's other tokens.
    return f"APP{secrets.token_hex(8).upper()}"


def app_token(user: User) -> IdToken:
    """The driver's App token: an existing usable one, else a new one."""
    existing = usable_tokens(user).filter(type=IdToken.Type.APP).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return IdToken.objects.create(
                    uid=_new_app_uid(), type=IdToken.Type.APP, owner=user, name=_("Portal")
                )
        except IntegrityError:  # 64 random bits already taken: draw again
            continue
    raise RuntimeError("No free App token uid after 5 draws")


def _command_refusal(error: commands.CommandError) -> ChargingRefused:
    if isinstance(error, commands.ChargerOffline):
        message = _("The charger is offline right now. Try another charger or try again later.")
    elif isinstance(error, commands.CommandTimeout):
        message = _("The charger did not answer in time. Please try again.")
    elif isinstance(error, commands.InvalidCommand | commands.UnknownChargePoint):
        return ChargingRefused(_("This cannot be done at this charger."), 409)
    else:
        message = _("The charger could not carry out the request. Please try again.")
    return ChargingRefused(message, 502)


def start(user: User, connector: Connector, token: IdToken | None) -> IdToken:
    """Ask the connector's charger to start charging for the driver; returns the token used.

    Raises ChargingRefused with the reason the driver should read.
    """
    refusal = standing.payer_refusal(user)
    if refusal:
        raise ChargingRefused(refusal, 409)
    if token is None:
        token = app_token(user)
    elif token.owner_id != user.pk:  # the form only offers their own; kept as a rule
        raise ChargingRefused(_("That token is not yours."), 409)
    try:
        answer = operations.remote_start(
            connector.charge_point.charge_point_id,
            token.uid,
            connector.connector_id,
            issued_by=user,
            source=SOURCE,
        )
    except commands.CommandError as error:
        raise _command_refusal(error) from error
    if answer.status != "Accepted":
        raise ChargingRefused(
            _("The charger refused to start. Is the connector free and the cable plugged in?"),
            409,
        )
    return token


def stop(user: User, session: ChargingSession) -> None:
    """Ask the charger to stop the driver's session; it ends when the charger says so."""
    if session.status != ChargingSession.Status.ACTIVE:
        raise ChargingRefused(_("This session has already ended."), 409)
    try:
        answer = operations.remote_stop(session, issued_by=user, source=SOURCE)
    except commands.CommandError as error:
        raise _command_refusal(error) from error
    if answer.status != "Accepted":
        raise ChargingRefused(_("The charger refused to stop the session."), 409)


def sessions_of(user: User) -> QuerySet[ChargingSession]:
    """The driver's sessions (through their tokens), newest first, ready for listing."""
    return (
        ChargingSession.objects.filter(id_token__owner=user)
        .select_related("charge_point__site", "connector", "charge")
        .defer("charge_point__configuration")
        .order_by("-started_at", "-pk")
    )


@dataclass(frozen=True)
class SessionFigures:
    energy_kwh: Decimal
    duration: timedelta
    cost: Price | None  # None: no tariff applies here


def figures(session: ChargingSession, now: datetime | None = None) -> SessionFigures:
    """Energy, time and cost so far of a session, from billing's reading of its meter."""
    now = now or timezone.now()
    usage = tariffs.usage_from_session(session, now)
    readings = [value for _at, value in usage.meter_readings]
    energy_wh = max(readings) - readings[0] if readings else Decimal(0)
    ended = session.stopped_at or now
    return SessionFigures(
        energy_kwh=(energy_wh / 1000).quantize(Decimal("0.001")),
        duration=max(ended - session.started_at, timedelta(0)),
        cost=tariffs.cost_so_far(session, now),
    )


def format_duration(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"
