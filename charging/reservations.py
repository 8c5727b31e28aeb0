"""A driver holds a connector for a while (OCPP 1.6 ReserveNow) and lets it go again.

The same rule for the portal and the API (/api/v1/me/reservations/): billing is asked
first, then the charger. How the session will be paid is chosen when it starts, so
holding a connector needs only some way to pay that lets the driver start
(billing.payment_choice; the station page asks the same before offering it).

A reservation names an id tag, not a person: the driver's reservations are those for
one of their tokens. Only that id tag may start charging on a held connector (OCPP 1.6
§5.13), so a start "with the app" on a connector the driver holds uses the token it is
held for (held_token()).
"""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import payment_choice
from charging.refusals import (
    ChargerSaidNo,
    CommandFailed,
    OutOfService,
    Refused,
    RefusedByBilling,
)
from charging.tokens import app_token, check_own_usable, usable_tokens
from stations import bookings, operations
from stations.authorization import charge_point_refusal
from stations.models import Connector, Reservation
from stations.ocpp import commands
from users.models import IdToken, User

# How long a connector may be held: long enough to drive there, short enough that a
# forgotten reservation does not keep others away for long.
MAX_MINUTES = 60
DEFAULT_MINUTES = 15
MINUTES_CHOICES = (15, 30, 60)
# How many ended reservations the driver's list shows.
HISTORY_LENGTH = 20


def _held(now: datetime) -> Q:
    # Accepted and not yet expired: the charger lets the connector go at expiryDate
    # without telling us (OCPP 1.6 §5.13), so an old Accepted one is simply over.
    return Q(status=Reservation.Status.ACCEPTED, expires_at__gt=now)


def reservations_of(user: User) -> QuerySet[Reservation]:
    """Every reservation for one of the driver's tokens, newest first."""
    uids = IdToken.objects.filter(owner=user).values("uid")
    return (
        Reservation.objects.filter(id_tag__in=uids)
        .select_related("charge_point__site")
        .defer("charge_point__configuration")
        .order_by("-created_at", "-pk")
    )


def held_by(user: User, now: datetime | None = None) -> QuerySet[Reservation]:
    """The driver's reservations that hold a connector now, soonest to expire first."""
    return reservations_of(user).filter(_held(now or timezone.now())).order_by("expires_at")


def ended_of(user: User, now: datetime | None = None) -> QuerySet[Reservation]:
    """The driver's recent reservations that hold nothing (any more), newest first."""
    return reservations_of(user).exclude(_held(now or timezone.now()))[:HISTORY_LENGTH]


def held_at(user: User, connector: Connector) -> Reservation | None:
    """The driver's reservation holding this connector now, if any."""
    return (
        held_by(user)
        .filter(charge_point_id=connector.charge_point_id, connector_id=connector.connector_id)
        .first()
    )


def held_token(user: User, connector: Connector) -> IdToken | None:
    """The driver's usable token this connector is held for: the one to start it with."""
    reservation = held_at(user, connector)
    if reservation is None:
        return None
    return usable_tokens(user).filter(uid=reservation.id_tag).first()


def is_held(reservation: Reservation, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return reservation.status == Reservation.Status.ACCEPTED and reservation.expires_at > now


def reserve(
    user: User,
    connector: Connector,
    minutes: int,
    token: IdToken | None,
    *,
    source: str,
) -> Reservation:
    """Ask the connector's charger to hold it `minutes` for the driver's token (their App
    token when None); returns the accepted Reservation.

    Raises charging.refusals.Refused with the reason the driver should read.
    """
    # Nothing to hold where nobody may start (a site stopped in an emergency).
    if reason := charge_point_refusal(connector.charge_point):
        raise OutOfService(reason)
    # Worth holding only for a driver who could start there with one of the payment
    # methods they may choose: a low wallet does not stop a driver with a card.
    refusal = payment_choice.options_for(user).refusal
    if refusal:
        raise RefusedByBilling(refusal)
    if not 1 <= minutes <= MAX_MINUTES:
        raise Refused(
            _("A connector can be reserved for 1 to %(max)d minutes.") % {"max": MAX_MINUTES},
            400,
        )
    if token is None:
        token = app_token(user)
    else:
        check_own_usable(user, token)
    expires_at = timezone.now() + timedelta(minutes=minutes)
    # A slot another driver has booked is theirs, even before the charger holds it.
    if bookings.overlapping(connector, timezone.now(), expires_at).exclude(user=user).exists():
        raise Refused(_("Another driver has booked this connector for that time."))
    return hold(connector, token, expires_at, user, source=source)


def hold(
    connector: Connector, token: IdToken, expires_at: datetime, user: User, *, source: str
) -> Reservation:
    """ReserveNow for `token` until `expires_at`, and the one reading of the charger's
    answer: a driver's reservation, and a booked slot's hold (charging/bookings.py)."""
    try:
        reservation = operations.reserve_now(
            connector.charge_point.charge_point_id,
            connector.connector_id,
            token.uid,
            expires_at,
            user,
            source=source,
        )
    except commands.CommandError as error:
        raise CommandFailed(error) from error
    if reservation.status != Reservation.Status.ACCEPTED:
        # Occupied, Faulted, Unavailable or Rejected (OCPP 1.6 §7.43): not held.
        raise ChargerSaidNo(
            _(
                "The charger did not accept the reservation: the connector may be in use, "
                "reserved or out of order."
            ),
            reservation=reservation,
        )
    return reservation


def cancel(user: User, reservation: Reservation, *, source: str) -> None:
    """Ask the charger to let the connector go; the reservation is then Cancelled."""
    if not reservations_of(user).filter(pk=reservation.pk).exists():
        raise Refused(_("That reservation is not yours."), 404)
    if not is_held(reservation):
        raise Refused(_("This reservation is no longer held."))
    try:
        answer = operations.cancel_reservation(reservation, issued_by=user, source=source)
    except commands.CommandError as error:
        raise CommandFailed(error) from error
    if answer.status != "Accepted":
        raise ChargerSaidNo(
            _("The charger refused to cancel the reservation (it answered %(answer)s).")
            % {"answer": answer.status},
            answer=answer.status,
        )
