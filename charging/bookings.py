"""A driver books a connector ahead for a time slot, from the portal or the API.

The rules of a slot: it starts in the future, at most BOOKING_DAYS_AHEAD days ahead, on
the quarter hour, and lasts 15 minutes to BOOKING_MAX_MINUTES in 15-minute steps. A
connector's live bookings never overlap (PostgreSQL: the exclusion constraint
stations.models.NoOverlappingBookings; SQLite: the check below, inside one IMMEDIATE
transaction, which takes the write lock first), and a driver holds one slot at a time.

What happens to a booking (run each minute by charging.tasks):
- BOOKING_LEAD_MINUTES before the slot the charger is asked to hold the connector for
  the booker's token until the slot's end (ReserveNow through charging.reservations.hold,
  the same rule as a walk-in reservation): only that token may start there (OCPP 1.6
  §5.13). A charger that is offline or says no is asked again the next minute.
- At the slot's end a booking the driver charged in is Used; one they did not is Not
  used: its hold is cancelled (CancelReservation, so that a charger whose clock runs late
  lets go too) and, if the charger held the connector for them, the tariff's no-show fee
  is charged by the booker's payment method: wallet, card or the monthly invoice
  (billing/no_show.py).
- Cancelling is free until BOOKING_FREE_CANCEL_MINUTES before the slot; later, the
  no-show fee is charged.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from http import HTTPStatus

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import no_show, payment_choice
from charging import reservations, signals
from charging.refusals import OutOfService, Refused, RefusedByBilling
from charging.tokens import app_token, check_own_usable
from stations import bookings, operations
from stations.authorization import charge_point_refusal
from stations.models import Booking, ChargingSession, Connector, Reservation
from stations.ocpp import commands
from stations.signals import announce
from users.models import IdToken, User

logger = logging.getLogger(__name__)

STEP_MINUTES = 15
# Recorded with the commands a booking sends (ChargerCommand.source).
SOURCE = "booking"


def bookings_of(user: User) -> QuerySet[Booking]:
    """The driver's bookings, latest slot first, ready for listing."""
    return (
        Booking.objects.filter(user=user)
        .select_related(
            "connector__charge_point__site", "id_token", "reservation", "charge__document"
        )
        .defer("connector__charge_point__configuration")
        .order_by("-starts_at", "-pk")
    )


def upcoming_of(user: User, now: datetime | None = None) -> QuerySet[Booking]:
    """The driver's bookings still to come or running, soonest first."""
    now = now or timezone.now()
    return (
        bookings_of(user)
        .filter(status=Booking.Status.BOOKED, ends_at__gt=now)
        .order_by("starts_at", "pk")
    )


def check_slot(starts_at: datetime, minutes: int, now: datetime) -> None:
    """Refuse (400) a slot in the past, too far ahead, off the quarter hour or too long."""
    if starts_at.second or starts_at.microsecond or starts_at.minute % STEP_MINUTES:
        raise Refused(
            _("A booking starts on the quarter hour (:00, :15, :30 or :45)."),
            HTTPStatus.BAD_REQUEST,
        )
    longest = settings.BOOKING_MAX_MINUTES
    if minutes % STEP_MINUTES or not STEP_MINUTES <= minutes <= longest:
        raise Refused(
            _("A booking lasts %(step)d to %(max)d minutes, in steps of %(step)d minutes.")
            % {"step": STEP_MINUTES, "max": longest},
            HTTPStatus.BAD_REQUEST,
        )
    if starts_at <= now:
        raise Refused(_("A booking cannot start in the past."), HTTPStatus.BAD_REQUEST)
    if starts_at > now + timedelta(days=settings.BOOKING_DAYS_AHEAD):
        raise Refused(
            _("A booking can start at most %(days)d days ahead.")
            % {"days": settings.BOOKING_DAYS_AHEAD},
            HTTPStatus.BAD_REQUEST,
        )


def book(
    user: User,
    connector: Connector,
    starts_at: datetime,
    minutes: int,
    token: IdToken | None,
    *,
    now: datetime | None = None,
) -> Booking:
    """Book the connector for the driver's token (their App token when None).

    Raises charging.refusals.Refused with the reason the driver should read: 400 for a
    slot the rules refuse, 403 money, 409 taken or out of service.
    """
    now = now or timezone.now()
    if reason := charge_point_refusal(connector.charge_point):
        raise OutOfService(reason)
    # As for a reservation: worth holding only for a driver who could start there.
    if refusal := payment_choice.options_for(user).refusal:
        raise RefusedByBilling(refusal)
    check_slot(starts_at, minutes, now)
    ends_at = starts_at + timedelta(minutes=minutes)
    if token is None:
        token = app_token(user)
    else:
        check_own_usable(user, token)
    taken = _("That connector is already booked for part of that time.")
    with transaction.atomic():
        if bookings.overlapping(connector, starts_at, ends_at).exists():
            raise Refused(taken)
        mine = bookings.live_bookings().filter(
            user=user, starts_at__lt=ends_at, ends_at__gt=starts_at
        )
        if mine.exists():
            raise Refused(_("You already have a booking at that time."))
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    connector=connector,
                    user=user,
                    id_token=token,
                    starts_at=starts_at,
                    ends_at=ends_at,
                )
        except IntegrityError as error:
            # PostgreSQL's exclusion constraint: another booking committed meanwhile.
            raise Refused(taken) from error
        announce(signals.booking_confirmed, Booking, booking=booking)
        return booking


def cancel(user: User, booking: Booking, *, now: datetime | None = None) -> Booking:
    """Cancel the driver's booking; late (within BOOKING_FREE_CANCEL_MINUTES of the slot)
    the no-show fee is charged. The charger's hold, if any, is let go."""
    now = now or timezone.now()
    if booking.user_id != user.pk:
        raise Refused(_("That booking is not yours."), HTTPStatus.NOT_FOUND)
    claimed = Booking.objects.filter(
        pk=booking.pk, status=Booking.Status.BOOKED, ends_at__gt=now
    ).update(status=Booking.Status.CANCELLED, cancelled_at=now)
    if not claimed:
        raise Refused(_("This booking is over or already cancelled."))
    booking.refresh_from_db()
    free_until = booking.starts_at - timedelta(minutes=settings.BOOKING_FREE_CANCEL_MINUTES)
    if now >= free_until:
        _charge_fee(booking)
    _release(booking, user)
    return booking


def is_free_to_cancel(booking: Booking, now: datetime | None = None) -> bool:
    """Whether cancelling now costs nothing."""
    now = now or timezone.now()
    free_until = booking.starts_at - timedelta(minutes=settings.BOOKING_FREE_CANCEL_MINUTES)
    return now < free_until


def hold_due(now: datetime | None = None) -> int:
    """Ask the chargers to hold the connectors of slots starting within the lead time;
    returns how many were held."""
    now = now or timezone.now()
    lead = timedelta(minutes=settings.BOOKING_LEAD_MINUTES)
    due = bookings.live_bookings().filter(
        hold_claimed_at__isnull=True, starts_at__lte=now + lead, ends_at__gt=now
    )
    held = 0
    for booking in due.select_related("connector__charge_point", "id_token", "user"):
        # A conditional UPDATE claims the hold: of two workers, one sends ReserveNow.
        if not Booking.objects.filter(
            pk=booking.pk, status=Booking.Status.BOOKED, hold_claimed_at__isnull=True
        ).update(hold_claimed_at=now):
            continue
        try:
            reservation = reservations.hold(
                booking.connector, booking.id_token, booking.ends_at, booking.user, source=SOURCE
            )
        except Refused as refused:
            # Offline, or the connector still busy: asked again the next minute.
            logger.info("booking %s not held yet: %s", booking.pk, refused)
            Booking.objects.filter(pk=booking.pk).update(hold_claimed_at=None)
            continue
        Booking.objects.filter(pk=booking.pk).update(reservation=reservation)
        held += 1
    return held


def end_due(now: datetime | None = None) -> int:
    """Close the bookings whose slot is over: Used, or Not used (hold cancelled, fee
    charged where the connector was held); returns how many were closed."""
    now = now or timezone.now()
    ended = 0
    over = bookings.live_bookings().filter(ends_at__lte=now)
    for booking in over.select_related("connector__charge_point", "reservation", "user"):
        used = was_used(booking)
        outcome = Booking.Status.USED if used else Booking.Status.NO_SHOW
        if not Booking.objects.filter(pk=booking.pk, status=Booking.Status.BOOKED).update(
            status=outcome
        ):
            continue
        booking.status = outcome
        ended += 1
        if used:
            continue
        # A driver is charged only for a connector the charger kept for them.
        if booking.reservation is not None and booking.reservation.status in (
            Reservation.Status.ACCEPTED,
            Reservation.Status.CANCELLED,
        ):
            _charge_fee(booking)
        _release(booking, None)
        announce(signals.booking_missed, Booking, booking=booking)
    return ended


def was_used(booking: Booking) -> bool:
    """The booker charged there: the charger started on the hold (StartTransaction named
    its reservation), or one of their tokens ran a session there in the slot (a driver
    who came early, before the hold)."""
    if booking.reservation is not None and booking.reservation.status == Reservation.Status.USED:
        return True
    lead = timedelta(minutes=settings.BOOKING_LEAD_MINUTES)
    return (
        ChargingSession.objects.filter(
            connector=booking.connector,
            id_token__owner=booking.user_id,
            started_at__lt=booking.ends_at,
        )
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=booking.starts_at - lead))
        .exists()
    )


def _charge_fee(booking: Booking) -> Decimal | None:
    """Charge the no-show fee (billing collects it by the booker's payment method)."""
    charge = no_show.charge(booking)
    if charge is None:
        return None
    Booking.objects.filter(pk=booking.pk).update(fee_charged=charge.gross)
    booking.fee_charged = charge.gross
    return charge.gross


def _release(booking: Booking, user: User | None) -> None:
    """Let go of the charger's hold of a cancelled or unused slot, if it holds one."""
    reservation = booking.reservation
    if reservation is None or reservation.status != Reservation.Status.ACCEPTED:
        return
    try:
        operations.cancel_reservation(reservation, issued_by=user, source=SOURCE)
    except commands.CommandError as error:
        # The charger lets go at the reservation's expiry, the slot's end, anyway.
        logger.info("booking %s: hold not cancelled: %s", booking.pk, error)
