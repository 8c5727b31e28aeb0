"""The fee for a booked slot the driver did not use, or cancelled too late.

The amount is the `no_show_fee` of the tariff that would have priced a session at the
connector at the slot's start (billing.tariffs.tariff_for: the same selection rule),
plus the tariff's VAT, by the same rounding rule as a session (billing.pricing
.price_fee).

The fee is a charge like a session's: a SessionCharge owned by the booking, frozen
once per booking (the booking row is locked while it is made, and the charge is one per
booking), then collected by billing/settlement.py by the payer's method
(billing/accounts.py): debited from the wallet (reference "booking:<id>", even below
zero), charged to the card on file off-session (a decline is retried, the payer told
and counted towards blocking as for a session; below Stripe's minimum it is invoiced),
or put on the monthly invoice as a line of its own. A paid fee gets an emailed receipt;
a receipt or invoice is refunded by a credit note like any other (billing/refunds.py).
"""

import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from billing import accounts, settlement, tariffs, tasks
from billing.models import SessionCharge, Tariff
from billing.pricing import LineKind, Price, price_fee
from stations.models import Booking
from users.models import User

logger = logging.getLogger(__name__)


def fees_of(user: User) -> QuerySet[SessionCharge]:
    """The driver's no-show fees, latest slot first, as their account page lists them."""
    return (
        SessionCharge.objects.filter(booking__user=user)
        .select_related("booking__connector__charge_point__site", "document")
        .order_by("-booking__starts_at", "-pk")
    )


def price_for(tariff: Tariff | None) -> Price | None:
    """The no-show fee under `tariff` as a price; None where it asks for none."""
    if tariff is None or tariff.no_show_fee <= 0:
        return None
    return price_fee(LineKind.NO_SHOW_FEE, _("No-show fee"), tariff.no_show_fee, tariff.terms())


def charge(booking: Booking) -> SessionCharge | None:
    """Charge the booking's fee (once): its SessionCharge, collected after commit by the
    payer's method; None where no fee is due."""
    with transaction.atomic():
        # Charging the same booking twice (a late cancel racing the slot's end, a
        # repeated task) queues here and then finds the first charge.
        locked = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("connector__charge_point__site", "user")
            .get(pk=booking.pk)
        )
        existing = SessionCharge.objects.filter(booking=locked).first()
        if existing is not None:
            return existing
        tariff = tariffs.tariff_for(locked.connector, locked.user, locked.starts_at)
        price = price_for(tariff)
        if price is None:
            return None
        account = accounts.payer_for(locked.user)
        fee = settlement.new_charge(price, account, tariff, booking=locked)
        transaction.on_commit(lambda: _queue_collection(fee.pk))
        return fee


def _queue_collection(charge_id: int) -> None:
    """Collect in a task: a card charge never holds up the driver's cancel or the
    minute's booking run. A broker that is down leaves the charge pending, and
    billing.settlement.settle_missed_sessions collects it a few minutes later."""
    try:
        tasks.collect_charge.delay(charge_id)
    except Exception:
        logger.exception("Could not queue the collection of charge %s", charge_id)
