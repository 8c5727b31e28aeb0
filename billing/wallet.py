"""The prepaid wallet: a ledger of WalletEntry lines, the balance is their sum.

Every way money moves in or out of a wallet is a function here, and each records one
entry under a reference that is unique per kind (a PaymentIntent id, a charging
session, a bank transfer). Recording the same reference again returns the entry made
the first time: a retried task or a replayed webhook cannot move money twice.
"""

from decimal import Decimal
from uuid import uuid4

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from billing import signals
from billing.models import WalletEntry
from billing.money import MoneyError, round_to_ore
from stations.signals import announce
from users.models import User


class WalletError(ValueError):
    """A wallet operation that cannot be done as asked; str() is for the user."""


class InsufficientFunds(WalletError):
    pass


class ReferenceConflict(WalletError):
    """The reference is already recorded, for another driver or another amount."""


def positive_amount(amount: Decimal | int) -> Decimal:
    """An amount to move, rounded by the one rule (billing/money.py); more than 0."""
    try:
        rounded = round_to_ore(amount)
    except MoneyError as error:
        raise WalletError(str(error)) from error
    if rounded <= 0:
        raise WalletError(
            _("The amount must be more than 0 SEK, not %(amount)s.") % {"amount": amount}
        )
    return rounded


def wallet_balance(user: User) -> Decimal:
    """What the driver has in the wallet, in SEK: the sum of all entries."""
    total = WalletEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"]
    return round_to_ore(total or Decimal(0))


def debit_wallet(
    user: User, amount: Decimal, reference: str, *, allow_negative: bool = False
) -> WalletEntry:
    """Take `amount` SEK from the wallet for `reference` (e.g. "session:42"), once.

    Refused with InsufficientFunds when the balance would drop below zero, unless
    `allow_negative` (a session that has already been delivered must be recorded even
    if it overdraws the wallet).
    """
    amount = positive_amount(amount)
    with transaction.atomic():
        # One driver's debits queue here, so that two of them cannot both pass the
        # balance check on the same money.
        _lock_wallet(user)
        existing = _existing(WalletEntry.Kind.DEBIT, reference, user, -amount)
        if existing:
            return existing
        balance = wallet_balance(user)
        if balance < amount and not allow_negative:
            raise InsufficientFunds(
                _("The wallet holds %(balance)s SEK, %(amount)s SEK were asked for.")
                % {"balance": balance, "amount": amount}
            )
        entry = _record(user, WalletEntry.Kind.DEBIT, -amount, reference)
        low = Decimal(settings.BILLING_WALLET_LOW_BALANCE)
        if balance >= low > balance - amount:
            # Told once as the balance crosses the threshold, not on every later debit.
            announce(signals.wallet_low, WalletEntry, entry=entry, balance=balance - amount)
        return entry


def refund_to_wallet(user: User, amount: Decimal, reference: str) -> WalletEntry:
    """Give money back to the wallet, e.g. when a session was debited too much."""
    return _credit(user, WalletEntry.Kind.REFUND, positive_amount(amount), reference)


def record_topup(user: User, amount: Decimal, reference: str) -> WalletEntry:
    """Credit a card top-up that Stripe reports as paid; reference: the PaymentIntent id."""
    return _credit(user, WalletEntry.Kind.TOPUP, positive_amount(amount), reference)


def credit_wallet_manually(
    user: User, amount: Decimal, *, staff: User, reason: str, reference: str = ""
) -> WalletEntry:
    """A member of staff puts money in a wallet: cash at the desk, a bank transfer.

    The entry is the audit record: who (`staff`), why (`reason`), when. Give the bank
    transfer's own reference to make crediting the same transfer twice impossible.
    """
    if not (staff.is_active and staff.is_staff):
        raise PermissionDenied(_("Only staff can credit wallets."))
    reason = reason.strip()
    if not reason:
        raise WalletError(_("Say why the wallet is credited (cash, bank transfer, ...)."))
    amount = positive_amount(amount)
    reference = reference.strip() or f"manual:{uuid4()}"
    return _credit(
        user, WalletEntry.Kind.MANUAL_CREDIT, amount, reference, created_by=staff, note=reason
    )


def _credit(
    user: User, kind: str, amount: Decimal, reference: str, **fields: object
) -> WalletEntry:
    with transaction.atomic():
        _lock_wallet(user)
        return _existing(kind, reference, user, amount) or _record(
            user, kind, amount, reference, **fields
        )


def _lock_wallet(user: User) -> None:
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def _existing(kind: str, reference: str, user: User, amount: Decimal) -> WalletEntry | None:
    if not reference:
        raise WalletError(_("A wallet entry needs a reference."))
    entry = WalletEntry.objects.filter(kind=kind, reference=reference).first()
    if entry is not None and (entry.user_id != user.pk or entry.amount != amount):
        raise ReferenceConflict(
            _("%(reference)s is already recorded, for %(amount)s SEK.")
            % {"reference": reference, "amount": entry.amount}
        )
    return entry


def _record(
    user: User, kind: str, amount: Decimal, reference: str, **fields: object
) -> WalletEntry:
    try:
        with transaction.atomic():
            return WalletEntry.objects.create(
                user=user, kind=kind, amount=amount, reference=reference, **fields
            )
    except IntegrityError:
        # The same reference committed by another process since _existing() looked.
        entry = _existing(kind, reference, user, amount)
        if entry is None:
            raise
        return entry
