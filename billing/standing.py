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

from django.conf import settings
from django.db.models import Sum
from django.utils.translation import gettext as _

from billing import accounts, wallet
from billing.models import BillingAccount, SessionCharge
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
    # Looked up, not created: answering a charger should not write accounts.
    fleet = accounts.fleet_account(user)
    account = fleet or BillingAccount.objects.filter(user=user).first()
    if method is None or fleet is not None:
        method = account.payment_method if account else settings.BILLING_DEFAULT_PAYMENT_METHOD
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
    # Imported here: billing.payment_choice asks this module when offering methods.
    from billing.payment_choice import pending_method

    # A start the driver asked for in the portal or the API is judged by how they chose
    # to pay for it; otherwise (an RFID card at the charger) by the account's method.
    return payer_refusal(token.owner, pending_method(token.owner))
