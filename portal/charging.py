"""What a driver does from the portal: start and stop charging, and what a session shows.

The views only translate these outcomes into pages. Starting asks billing first
(billing.standing: the same rule a charger's Authorize meets), then the charger
(stations.operations.remote_start). A start the charger accepts has no session yet:
the session exists once the car takes the charge (StartTransaction).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import payment_choice, standing, tariffs
from billing.pricing import Price
from stations import operations
from stations.models import ChargingSession, Connector
from stations.ocpp import commands
from users.models import IdToken, User

SOURCE = "portal"


class ChargingRefused(Exception):
    """A start or stop that did not happen; str() is for the driver, `status` for HTTP.

    400: a payment method the driver may not choose;
    409: the request conflicts with the state of things (money, the charger said no);
    502: the charger could not be reached or answered badly.
    """

    def __init__(self, message: str, status: int, *, charger_answer: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        # What the charger answered when it said no (Rejected, Occupied, ...).
        self.charger_answer = charger_answer


class PayerRefused(ChargingRefused):
    """Money stops the driver from starting (billing.standing): the reason is theirs to
    read, whoever asks (the API answers it as 403)."""


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


def command_refusal(error: commands.CommandError) -> ChargingRefused:
    if isinstance(error, commands.ChargerOffline):
        message = _("The charger is offline right now. Try another charger or try again later.")
    elif isinstance(error, commands.CommandTimeout):
        message = _("The charger did not answer in time. Please try again.")
    elif isinstance(error, commands.InvalidCommand | commands.UnknownChargePoint):
        return ChargingRefused(_("This cannot be done at this charger."), 409)
    else:
        message = _("The charger could not carry out the request. Please try again.")
    return ChargingRefused(message, 502)


def start(
    user: User,
    connector: Connector,
    token: IdToken | None,
    method: str | None = None,
    *,
    source: str = SOURCE,
) -> IdToken:
    """Ask the connector's charger to start charging for the driver; returns the token used.

    `method` is how the driver pays for this session (billing/payment_choice.py); None
    is the account's own method. Raises ChargingRefused with the reason the driver
    should read.
    """
    refusal = standing.payer_refusal(user, method)
    if refusal:
        raise PayerRefused(refusal, 409)
    if method is not None:
        # Recorded before the charger is asked: its session claims it when priced. If
        # the charger says no, the choice is never claimed and simply expires.
        try:
            payment_choice.choose(user, connector, method)
        except payment_choice.PaymentChoiceRefused as error:
            raise ChargingRefused(str(error), 400) from error
    if token is None:
        # A connector the driver reserved starts only for the id tag it is held for
        # (OCPP 1.6 §5.13). Imported here: portal.reservations builds on this module.
        from portal.reservations import held_token

        token = held_token(user, connector) or app_token(user)
    elif token.owner_id != user.pk:  # the form only offers their own; kept as a rule
        raise ChargingRefused(_("That token is not yours."), 409)
    try:
        answer = operations.remote_start(
            connector.charge_point.charge_point_id,
            token.uid,
            connector.connector_id,
            issued_by=user,
            source=source,
        )
    except commands.CommandError as error:
        raise command_refusal(error) from error
    if answer.status != "Accepted":
        raise ChargingRefused(
            _("The charger refused to start. Is the connector free and the cable plugged in?"),
            409,
            charger_answer=answer.status,
        )
    return token


def stop(user: User, session: ChargingSession, *, source: str = SOURCE) -> None:
    """Ask the charger to stop the driver's session; it ends when the charger says so."""
    if session.status != ChargingSession.Status.ACTIVE:
        raise ChargingRefused(_("This session has already ended."), 409)
    try:
        answer = operations.remote_stop(session, issued_by=user, source=source)
    except commands.CommandError as error:
        raise command_refusal(error) from error
    if answer.status != "Accepted":
        raise ChargingRefused(
            _("The charger refused to stop the session."), 409, charger_answer=answer.status
        )


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
    power_kw: Decimal | None  # None: not reported, or the session has ended
    soc_percent: int | None  # None: the charger does not report the car's battery


STATE_OF_CHARGE = "SoC"  # OCPP 1.6 §7.31 Measurand, in percent
KW = Decimal("0.001")


def figures(session: ChargingSession, now: datetime | None = None) -> SessionFigures:
    """Energy, time and cost so far of a session, from billing's reading of its meter.

    Power is the latest Power.Active.Import sample billing reads (W or kW, in kW
    here); it says what flows now, so an ended session has none.
    """
    now = now or timezone.now()
    usage = tariffs.usage_from_session(session, now)
    readings = [value for _at, value in usage.meter_readings]
    energy_wh = max(readings) - readings[0] if readings else Decimal(0)
    ended = session.stopped_at or now
    power_kw = None
    if usage.running and usage.power_samples:
        power_kw = (usage.power_samples[-1][1] / 1000).quantize(KW)
    return SessionFigures(
        energy_kwh=(energy_wh / 1000).quantize(KW),
        duration=max(ended - session.started_at, timedelta(0)),
        cost=tariffs.cost_so_far(session, now, usage),
        power_kw=power_kw,
        soc_percent=state_of_charge(session),
    )


def state_of_charge(session: ChargingSession) -> int | None:
    """The car's battery level in the latest SoC sample of the session, in percent."""
    latest = (
        session.meter_samples.filter(
            measurand=STATE_OF_CHARGE,
            value_decimal__gte=0,  # a number at all (Raw), and a possible percentage
            value_decimal__lte=100,
        )
        .order_by("-timestamp", "-id")
        .values_list("value_decimal", flat=True)
        .first()
    )
    return None if latest is None else int(latest.quantize(Decimal(1), ROUND_HALF_UP))


def format_duration(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"
