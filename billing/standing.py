"""Whether a driver may start charging, as far as money goes.

Asked by stations.authorization for every Authorize, StartTransaction and remote start
(settings.CHARGING_POLICIES), so the answer goes to the charger as IdTagInfo Blocked:

- A payer whose card charges failed BILLING_BLOCK_AFTER_FAILED_PAYMENTS times in all,
  on sessions still unpaid, is refused until the debt is paid (a later retry succeeds,
  or staff settle it); the failures are counted, not stored as a flag, so paying
  unblocks at once.
- A payer on the prepaid wallet is refused while the wallet holds less than
  BILLING_WALLET_MINIMUM: a session must not run up more than the wallet can cover.

Tokens without an owner (staff cards, a guest's one-off token) are not ours to judge.
"""

from datetime import datetime

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import accounts, wallet
from billing.models import BillingAccount, PaymentChoice, SessionCharge
from users.models import IdToken, User


def failed_payment_attempts(account: BillingAccount) -> int:
    """Failed card attempts on this account's sessions that are still unpaid."""
    total = SessionCharge.objects.filter(
        account=account, status=SessionCharge.Status.FAILED
    ).aggregate(attempts=Sum("failed_attempts"))["attempts"]
    return total or 0


def payer_refusal(user: User, method: str | None = None) -> str | None:
    """Why this driver may not start a session now, or None.

    `method` is how the driver chose to pay for this session (billing/payment_choice.py)
    when starting from the portal or the API; without it (a charger's Authorize) the
    payer's own method applies. A fleet's company pays its own way whatever is chosen.
    """
    account = accounts.payer_for(user, create=False)
    if method is None or (account is not None and account.fleet_id is not None):
        method = accounts.payment_method_of(account)
    if account is not None:
        failures = failed_payment_attempts(account)
        if failures >= settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS:
            return _("Unpaid charging sessions: %(count)d failed card payments.") % {
                "count": failures
            }
    if method == BillingAccount.PaymentMethod.WALLET:
        balance = wallet.wallet_balance(user)
        if balance < settings.BILLING_WALLET_MINIMUM:
            return _(
                "The wallet holds %(balance)s SEK; at least %(minimum)s SEK is needed to start."
            ) % {"balance": balance, "minimum": settings.BILLING_WALLET_MINIMUM}
    return None


def refusal(token: IdToken) -> str | None:
    """A CHARGING_POLICIES function: why this token may not charge, or None."""
    if token.owner_id is None:
        return None
    # A start the driver asked for in the portal or the API is judged by how they chose
    # to pay for it; otherwise (an RFID card at the charger) by the account's method.
    return payer_refusal(token.owner, pending_method(token.owner))


def pending_method(user: User, now: datetime | None = None) -> str | None:
    """How the driver chose to pay for the start they asked for last, while a session
    may still claim it; None when there is no such choice.

    A charger asks about the token in Authorize and StartTransaction before any session
    exists: the answer must judge the method the driver picked (a card) and not the
    account's own (a nearly empty wallet), or the charger would stop the very session
    the driver just started. The choice itself is billing/payment_choice.py's.
    """
    now = now or timezone.now()
    return (
        PaymentChoice.objects.filter(
            user=user, session__isnull=True, chosen_at__gt=now - PaymentChoice.CLAIM_WINDOW
        )
        .order_by("-chosen_at", "-id")
        .values_list("method", flat=True)
        .first()
    )
