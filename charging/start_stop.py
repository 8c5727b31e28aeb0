"""A driver starts and stops charging, from the portal or the API.

Starting asks billing first (billing.standing: the same rule a charger's Authorize
meets, judged by the payment method chosen for this session), records that choice
(billing.payment_choice), then asks the charger (stations.operations.remote_start). A
start the charger accepts has no session yet: the session exists once the car takes
the charge (StartTransaction).
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import payment_choice, standing
from charging import cheap_hours
from charging.refusals import (
    ChargerSaidNo,
    CommandFailed,
    OutOfService,
    PaymentMethodRefused,
    Refused,
    RefusedByBilling,
)
from charging.reservations import held_token
from charging.tokens import app_token, check_own_usable
from stations import operations
from stations.authorization import charge_point_refusal
from stations.models import ChargingSession, Connector
from stations.ocpp import commands
from users.models import IdToken, User


def sessions_of(user: User) -> QuerySet[ChargingSession]:
    """The driver's sessions (through their tokens), newest first, ready for listing."""
    return (
        ChargingSession.objects.filter(id_token__owner=user)
        .select_related("charge_point__site", "connector", "charge")
        .defer("charge_point__configuration")
        .order_by("-started_at", "-pk")
    )


def start(
    user: User,
    connector: Connector,
    token: IdToken | None,
    method: str | None = None,
    *,
    source: str,
    departure: datetime | None = None,
    energy_kwh: Decimal | None = None,
) -> IdToken:
    """Ask the connector's charger to start charging for the driver; returns the token used.

    `token` None: the one the connector is held for, else the driver's App token.
    `method` is how the driver pays for this session (billing/payment_choice.py); None
    is the account's own method. A `departure` and the `energy_kwh` needed by then make
    the charger follow the cheapest schedule (charging/cheap_hours.py); without: charge
    now. Raises charging.refusals.Refused with the reason the
    driver should read.
    """
    # The charger's own no comes first: no payment choice is recorded for a start that
    # cannot happen (a site stopped in an emergency).
    if reason := charge_point_refusal(connector.charge_point):
        raise OutOfService(reason)
    now = timezone.now()
    profile = plan = None
    if cheap_hours.check_wish(now, departure, energy_kwh):
        assert departure is not None and energy_kwh is not None
        plan = cheap_hours.plan_for(connector, user, now, departure, energy_kwh)
        profile = cheap_hours.tx_profile(plan)
    refusal = standing.payer_refusal(user, method)
    if refusal:
        raise RefusedByBilling(refusal)
    if method is not None:
        # Recorded before the charger is asked: its session claims it when priced. If
        # the charger says no, the choice is never claimed and simply expires.
        try:
            payment_choice.choose(user, connector, method)
        except payment_choice.PaymentChoiceRefused as error:
            raise PaymentMethodRefused(str(error)) from error
    if token is None:
        # A connector the driver reserved starts only for the id tag it is held for
        # (OCPP 1.6 §5.13).
        token = held_token(user, connector) or app_token(user)
    else:
        check_own_usable(user, token)
    stored = None
    if plan is not None:
        assert departure is not None and energy_kwh is not None
        # Stored before the charger is asked: its session may start (and the site's
        # allocation look for the plan) before the answer is back here.
        stored = cheap_hours.record(connector, token.uid, plan, departure, energy_kwh)
    try:
        answer = operations.remote_start(
            connector.charge_point.charge_point_id,
            token.uid,
            connector.connector_id,
            profile,
            issued_by=user,
            source=source,
        )
    except commands.CommandError as error:
        if stored is not None:
            stored.delete()
        raise CommandFailed(error) from error
    if answer.status != "Accepted":
        if stored is not None:
            stored.delete()
        raise ChargerSaidNo(
            _(
                "The charger refused to start (it answered %(answer)s). Is the connector "
                "free and the cable plugged in?"
            )
            % {"answer": answer.status},
            answer=answer.status,
        )
    return token


def stop(user: User, session: ChargingSession, *, source: str) -> None:
    """Ask the charger to stop the driver's session; it ends when the charger says so."""
    if session.id_token is None or session.id_token.owner_id != user.pk:
        raise Refused(_("That session is not yours."), 404)
    if session.status != ChargingSession.Status.ACTIVE:
        raise Refused(_("This session has already ended."))
    try:
        answer = operations.remote_stop(session, issued_by=user, source=source)
    except commands.CommandError as error:
        raise CommandFailed(error) from error
    if answer.status != "Accepted":
        raise ChargerSaidNo(
            _("The charger refused to stop the session (it answered %(answer)s).")
            % {"answer": answer.status},
            answer=answer.status,
        )
