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


def payer_refusal(user: User) -> str | None:
    """Why this driver may not start a session now, or None."""
    # Looked up, not created: answering a charger should not write accounts.
    account = accounts.fleet_account(user) or BillingAccount.objects.filter(user=user).first()
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
    return payer_refusal(token.owner)
