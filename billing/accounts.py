"""Who pays for a driver's charging: the one rule (`payer_for`), used by settlement,
billing.standing, the payment choice and the portal.

A driver who belongs to a fleet (a CustomerGroup of kind fleet) that has a billing
account charges on the fleet's account: the company pays, on one monthly invoice.
Anyone else pays on their own account, created on first use with the defaults
(BILLING_DEFAULT_PAYMENT_METHOD, a monthly invoice unless configured otherwise; the
driver's language).
"""

from typing import Literal, overload

from django.conf import settings
from django.db import IntegrityError, transaction

from billing.models import BillingAccount, CustomerGroup
from users.models import User


def fleet_account(user: User) -> BillingAccount | None:
    """The account of a fleet the driver belongs to (the oldest, if several)."""
    return (
        BillingAccount.objects.filter(fleet__kind=CustomerGroup.Kind.FLEET, fleet__members=user)
        .order_by("created_at", "id")
        .first()
    )


def own_account(user: User) -> BillingAccount:
    """The driver's own account, created with the defaults on first use."""
    account = BillingAccount.objects.filter(user=user).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return BillingAccount.objects.create(user=user)
    except IntegrityError:
        # Created by a concurrent request since we looked (user is unique).
        return BillingAccount.objects.get(user=user)


@overload
def payer_for(user: User) -> BillingAccount: ...
@overload
def payer_for(user: User, *, create: Literal[True]) -> BillingAccount: ...
@overload
def payer_for(user: User, *, create: bool) -> BillingAccount | None: ...


def payer_for(user: User, *, create: bool = True) -> BillingAccount | None:
    """The account that pays for this driver's sessions: their fleet's, else their own.

    With create=False a driver without an account yet gets None: answering a charger or
    showing a page looks the payer up and writes nothing.
    """
    fleet = fleet_account(user)
    if fleet is not None:
        return fleet
    if create:
        return own_account(user)
    return BillingAccount.objects.filter(user=user).first()


def payment_method_of(account: BillingAccount | None) -> str:
    """How a payer pays; a driver without an account yet, as a new one would."""
    return account.payment_method if account else settings.BILLING_DEFAULT_PAYMENT_METHOD
