"""How a driver pays for the one session they start: the rule behind the start form.

A driver's account pays by its payment method (BillingAccount.payment_method). Starting
a charge from the portal or the API they may pay this one session otherwise: by the
card on file, from the prepaid wallet, or on the monthly invoice, each only where it is
usable (`options_for`). The choice is recorded before the charger is asked to start
(`choose`); the session that charger then opens for the driver on that connector claims
it when the session is priced (`claim_for`, from billing.settlement.freeze_price).

A driver whose fleet pays (billing.accounts.fleet_account) has nothing to choose: the
company pays by its own method. A subscription changes the price (its tariffs apply
through the plan's customer group), not how the session is paid.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from billing import accounts, money, payments, standing, subscriptions, wallet
from billing.models import BillingAccount, PaymentChoice
from stations.models import ChargingSession, Connector
from users.models import User

Method = BillingAccount.PaymentMethod


class PaymentChoiceRefused(ValueError):
    """A payment method that cannot be chosen; str() is for the driver."""


@dataclass(frozen=True)
class PaymentOption:
    method: str
    label: str
    # Why money stops a start paid this way now (billing.standing), or None.
    refusal: str | None


@dataclass(frozen=True)
class PaymentOptions:
    """What the start form offers a driver."""

    # The methods the driver may choose, in BillingAccount.PaymentMethod's order.
    options: tuple[PaymentOption, ...]
    # The account's own payment method (None when the fleet pays).
    own: str | None
    # Selected at first: the account's own method, unless money stops it now.
    default: str | None
    # The driver's fleet pays: nothing to choose.
    company_pays: bool
    # The name of the driver's active plan: its price applies, however they pay.
    plan: str | None
    # Why nothing at all can be started now, or None.
    refusal: str | None

    @property
    def methods(self) -> list[str]:
        return [option.method for option in self.options]

    @property
    def shown(self) -> list[PaymentOption]:
        """The options on the form: those that can start now, and the account's own
        method even when it cannot (greyed, with the reason), so that the driver sees
        why another one is selected."""
        return [
            option for option in self.options if option.refusal is None or option.method == self.own
        ]

    @property
    def note(self) -> str:
        """What the form says next to (or instead of) the choice."""
        if self.company_pays:
            return _("Your company pays for this charge.")
        if self.plan:
            return _("Your subscription price applies (%(plan)s).") % {"plan": self.plan}
        return ""


def _own_method(user: User) -> str:
    """The method of the driver's own account; callers have already let a fleet pay."""
    return accounts.payment_method_of(BillingAccount.objects.filter(user=user).first())


def _label(user: User, method: str, card: payments.SavedCard | None) -> str:
    if method == Method.CARD and card is not None:
        return _("Card •••• %(last4)s") % {"last4": card.last4}
    if method == Method.WALLET:
        balance = money.format_money(wallet.wallet_balance(user))
        return _("Wallet (balance %(balance)s)") % {"balance": balance}
    return _("Monthly invoice")


def _usable(method: str, own_method: str, card: payments.SavedCard | None) -> bool:
    if method == Method.CARD and card is None:
        return False
    # The operator decides which methods drivers may choose themselves (paying
    # afterwards is credit); a method staff gave this driver's account stays theirs.
    return method in settings.BILLING_DRIVER_PAYMENT_METHODS or method == own_method


def options_for(user: User) -> PaymentOptions:
    """The payment methods the driver may choose for a session, with their labels and
    whether money lets them start with each now."""
    subscription = subscriptions.active_subscription(user)
    plan = subscription.plan.name if subscription is not None else None
    if accounts.fleet_account(user) is not None:
        return PaymentOptions(
            options=(),
            own=None,
            default=None,
            company_pays=True,
            plan=plan,
            refusal=standing.payer_refusal(user),
        )
    own = _own_method(user)
    card = payments.saved_card(user)
    options = tuple(
        PaymentOption(method, _label(user, method, card), standing.payer_refusal(user, method))
        for method in Method.values
        if _usable(method, own, card)
    )
    startable = [option.method for option in options if option.refusal is None]
    default = own if own in startable else next(iter(startable), None)
    return PaymentOptions(
        options=options,
        own=own,
        default=default,
        company_pays=False,
        plan=plan,
        # Only when no method would do: the account's own reason (e.g. unpaid sessions).
        refusal=None if startable else standing.payer_refusal(user),
    )


def refusal(user: User, method: str) -> str | None:
    """Why the driver may not choose this method, or None (billing.standing asks money)."""
    if accounts.fleet_account(user) is not None:
        return _("Your company pays for your charging: there is no payment method to choose.")
    if method not in Method.values:
        return _("Unknown payment method.")
    card = payments.saved_card(user) if method == Method.CARD else None
    if method == Method.CARD and card is None:
        return _("Save a card first: charging is then paid with it.")
    if not _usable(method, _own_method(user), card):
        return _("This payment method is not offered.")
    return None


def choose(user: User, connector: Connector, method: str) -> PaymentChoice:
    """Record how the driver pays for the session they are about to start here.

    Raises PaymentChoiceRefused when the method is not theirs to choose.
    """
    reason = refusal(user, method)
    if reason is not None:
        raise PaymentChoiceRefused(reason)
    return PaymentChoice.objects.create(user=user, connector=connector, method=method)


def claim_for(session: ChargingSession, driver: User) -> PaymentChoice | None:
    """The driver's choice for this session: claimed once, then always the same one.

    The newest unclaimed choice of the driver for the session's connector made within
    PaymentChoice.CLAIM_WINDOW before the server received the session (created_at: the
    charger's own clock, behind started_at, is not trusted). A session asked again (a retried
    settlement) gets the choice it claimed; a choice is claimed by one session only.
    """
    with transaction.atomic():
        claimed = PaymentChoice.objects.filter(session=session).first()
        if claimed is not None:
            return claimed
        received = session.created_at
        choice = (
            # Locked: two sessions priced at once cannot both take it.
            PaymentChoice.objects.select_for_update()
            .filter(
                user=driver,
                connector_id=session.connector_id,
                session__isnull=True,
                chosen_at__gt=received - PaymentChoice.CLAIM_WINDOW,
                chosen_at__lte=received,
            )
            .order_by("-chosen_at", "-id")
            .first()
        )
        if choice is None:
            return None
        choice.session = session
        choice.save(update_fields=["session"])
        return choice
