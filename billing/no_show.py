"""The fee for a booked slot the driver did not use, or cancelled too late.

The amount is the `no_show_fee` of the tariff that would have priced a session at the
connector at the slot's start (billing.tariffs.tariff_for: the same selection rule),
plus the tariff's VAT, rounded once (billing.money).

How it is collected: a debit on the booker's wallet, once per booking (reference
"booking:<id>"), allowed below zero as a delivered session is. A wallet is the one
method that needs neither a session (SessionCharge, receipts and invoice lines are a
session's) nor the driver present; a wallet below zero then stops wallet starts until
topped up (billing.standing).
"""

from decimal import Decimal

from billing import tariffs, wallet
from billing.money import round_to_ore
from stations.models import Booking


def fee_for(booking: Booking) -> Decimal:
    """The booking's no-show fee with VAT, in SEK; 0 where no tariff asks for one."""
    tariff = tariffs.tariff_for(booking.connector, booking.user, booking.starts_at)
    if tariff is None or tariff.no_show_fee <= 0:
        return Decimal(0)
    return round_to_ore(tariff.no_show_fee * (1 + tariff.vat_rate / 100))


def charge(booking: Booking) -> Decimal:
    """Debit the booking's fee from the booker's wallet (once); returns the amount."""
    amount = fee_for(booking)
    if amount > 0:
        wallet.debit_wallet(booking.user, amount, f"booking:{booking.pk}", allow_negative=True)
    return amount
