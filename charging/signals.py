"""Domain events of the driver's bookings (charging/bookings.py): notifications listens,
so charging never imports it. Sent after commit (stations.signals.announce)."""

from django.dispatch import Signal

# sender=Booking, booking=...: a driver booked a slot.
booking_confirmed = Signal()
# sender=Booking, booking=...: the slot ended unused (Booking.Status.NO_SHOW);
# booking.fee_charged is the no-show fee charged, if any.
booking_missed = Signal()
