"""Who pays for a driver's charging: the one rule, used by settlement and the portal.

A driver who belongs to a fleet (a CustomerGroup of kind fleet) that has a billing
account charges on the fleet's account: the company pays, on one monthly invoice.
Anyone else pays on their own account, created on first use with the defaults
(prepaid wallet, the driver's language).
"""

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


def payer_for(user: User) -> BillingAccount:
    """The account that pays for this driver's sessions."""
    return fleet_account(user) or own_account(user)
