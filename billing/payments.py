"""Card payments through Stripe (dj-stripe keeps the local mirror of Stripe's objects).

- a Stripe Customer per driver (ensure_customer),
- a card saved for later with a SetupIntent (save_card, then card_saved),
- charges to that card while the driver is away (charge_off_session),
- wallet top-ups by card (top_up_wallet), credited when Stripe reports the
  PaymentIntent succeeded (apply_payment_intent, from the webhook).

Amounts come in as Decimal SEK and go to Stripe in öre (billing.money.round_to_ore).
Without STRIPE_SECRET_KEY every function here raises PaymentsNotConfigured; nothing
else in ChargeHub needs Stripe, wallets included.
"""

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from djstripe.models import Customer, PaymentMethod

from billing import money, wallet
from billing.models import CardPayment
from users.models import User

# Stripe spells currencies in lower case.
CURRENCY = money.CURRENCY.lower()
# Stripe refuses charges below its minimum for the currency: 3.00 kr for SEK
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE = Decimal("3.00")
# Our reference on every PaymentIntent, found again when its webhooks arrive.
METADATA_KEY = "chargehub_payment"


class PaymentsNotConfigured(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            _(
                "Card payments are not configured: STRIPE_SECRET_KEY is not set. "
                "Wallet credits by staff still work."
            )
        )


class PaymentError(ValueError):
    """A payment that cannot be made as asked; str() is for the user."""


class NoCardOnFile(PaymentError):
    def __init__(self) -> None:
        super().__init__(_("No card is saved for this driver."))


class CardDeclined(PaymentError):
    pass


def payments_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_api_key() -> str:
    """The secret key for a Stripe call, with the library pointed at STRIPE_API_BASE."""
    if not payments_configured():
        raise PaymentsNotConfigured()
    # A module global because dj-stripe calls Stripe through the module too.
    stripe.api_base = settings.STRIPE_API_BASE
    return settings.STRIPE_SECRET_KEY


def to_minor_units(amount: Decimal) -> int:
    """SEK to öre for Stripe: rounded to whole öre (half up), times 100."""
    return int(money.round_to_ore(amount) * 100)


def from_minor_units(amount: int) -> Decimal:
    return Decimal(amount) / 100


def ensure_customer(user: User) -> Customer:
    """The driver's Stripe Customer, created on first use (dj-stripe links it to the user)."""
    api_key = stripe_api_key()
    customer, _created = Customer.get_or_create(subscriber=user, api_key=api_key)
    return customer


def save_card(user: User) -> stripe.SetupIntent:
    """Start saving a card for charges while the driver is away.

    The browser confirms the SetupIntent with Stripe.js (its client_secret) and the
    driver comes back; card_saved() then makes the card the one that is charged.
    """
    api_key = stripe_api_key()
    customer = ensure_customer(user)
    return stripe.SetupIntent.create(
        customer=customer.id,
        usage="off_session",
        payment_method_types=["card"],
        metadata={"chargehub_user": str(user.pk)},
        api_key=api_key,
    )


def card_saved(setup_intent_id: str) -> str | None:
    """Make the card of a succeeded SetupIntent its customer's default; returns its id.

    Called when the driver returns from confirming, and again by the
    setup_intent.succeeded webhook (whichever comes first; the second changes nothing).
    """
    api_key = stripe_api_key()
    setup_intent = stripe.SetupIntent.retrieve(setup_intent_id, api_key=api_key)
    if setup_intent.status != "succeeded" or not setup_intent.customer:
        return None
    customer_id = _id(setup_intent.customer)
    payment_method_id = _id(setup_intent.payment_method)
    payment_method = stripe.PaymentMethod.retrieve(payment_method_id, api_key=api_key)
    if not payment_method.customer:
        # Stripe attaches it when the SetupIntent succeeds; a card that is not attached
        # to the customer could not be charged again.
        stripe.PaymentMethod.attach(payment_method_id, customer=customer_id, api_key=api_key)
    stripe_customer = stripe.Customer.modify(
        customer_id,
        invoice_settings={"default_payment_method": payment_method_id},
        api_key=api_key,
    )
    Customer.sync_from_stripe_data(stripe_customer, api_key=api_key)
    return payment_method_id


def setup_intent_belongs_to(user: User, setup_intent_id: str) -> bool:
    """Whether a SetupIntent was made for this driver (our metadata and their customer).

    The id comes back from the browser (Stripe.js's return address): anyone could put
    another driver's there, so it is checked at Stripe before card_saved() acts on it.
    """
    api_key = stripe_api_key()
    if not setup_intent_id.startswith("seti_"):
        return False
    try:
        setup_intent = stripe.SetupIntent.retrieve(setup_intent_id, api_key=api_key)
    except stripe.InvalidRequestError:
        return False  # no such SetupIntent
    customer_id = _id(setup_intent.customer)
    return (setup_intent.metadata or {}).get("chargehub_user") == str(user.pk) and bool(
        customer_id and customer_id == ensure_customer(user).id
    )


@dataclass(frozen=True)
class SavedCard:
    id: str
    brand: str
    last4: str
    exp_month: int = 0
    exp_year: int = 0


def saved_card(user: User) -> SavedCard | None:
    """The card charged for the driver, as the portal and the API show and offer it.

    Read from dj-stripe's local copy of their Stripe customer, not from Stripe: the copy
    is written whenever a card is saved (card_saved, from the driver's return and from
    the setup_intent.succeeded webhook), so it is as current as Stripe for anything done
    here, and a page shows it without a round trip to Stripe, or an error page while
    Stripe cannot be reached. A charge does not rely on it: charge_off_session asks
    Stripe (default_card), which it talks to anyway.
    """
    customer = _with_saved_card().filter(subscriber=user).first()
    if customer is None:
        return None
    return _card(customer.default_payment_method)


def _with_saved_card() -> QuerySet[Customer]:
    """dj-stripe's local copies of Stripe customers that have a saved card (the
    default payment method) and were not deleted at Stripe."""
    return Customer.objects.filter(
        date_purged__isnull=True, default_payment_method__isnull=False
    ).select_related("default_payment_method")


def _card(payment_method: PaymentMethod) -> SavedCard:
    card = payment_method.stripe_data.get("card") or {}
    return SavedCard(
        id=payment_method.id,
        brand=str(card.get("brand") or ""),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
    )


def expiring_cards(today: date) -> list[tuple[User, SavedCard]]:
    """The drivers whose saved card (saved_card) expires at the end of this month or of
    next month (a card is valid through its expiry month), with the card; from
    dj-stripe's local copy, like saved_card."""
    following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    expiry = Q()
    for month in (today, following):
        expiry |= Q(
            default_payment_method__stripe_data__card__exp_year=month.year,
            default_payment_method__stripe_data__card__exp_month=month.month,
        )
    customers = (
        _with_saved_card()
        .filter(expiry, subscriber__isnull=False)
        .select_related("subscriber")
        .order_by("pk")
    )
    return [(customer.subscriber, _card(customer.default_payment_method)) for customer in customers]


def default_card(user: User) -> str | None:
    """The id of the card charged for this driver, as Stripe has it now (a charge is
    made with this one; pages show saved_card)."""
    api_key = stripe_api_key()
    customer = ensure_customer(user)
    stripe_customer = stripe.Customer.retrieve(customer.id, api_key=api_key)
    return _id((stripe_customer.invoice_settings or {}).get("default_payment_method"))


def charge_off_session(
    user: User, amount: Decimal, description: str, idempotency_key: str
) -> stripe.PaymentIntent:
    """Charge the saved card while the driver is away (e.g. a finished session).

    The same idempotency_key never charges twice: a repeated call returns the first
    PaymentIntent (or raises the first decline) without asking Stripe again, and
    Stripe itself gets the key for retries of the request. CardDeclined when the bank
    refuses or wants the driver present (3-D Secure): the driver has to pay on-session.
    """
    payment, done = _start_payment(
        user, CardPayment.Purpose.CHARGE, amount, description, idempotency_key
    )
    if done:
        return _outcome(payment)
    payment_method = default_card(user)
    if not payment_method:
        raise NoCardOnFile()
    return _create_payment_intent(
        payment, payment_method=payment_method, confirm=True, off_session=True
    )


def top_up_wallet(
    user: User, amount: Decimal, *, idempotency_key: str | None = None
) -> stripe.PaymentIntent:
    """Top up the prepaid wallet by card; the wallet is credited when Stripe says paid.

    With a saved card it is charged at once (the driver is present, so the bank may
    ask for 3-D Secure: status requires_action, finished in the browser with the
    client_secret); without one, the browser collects a card for the returned
    PaymentIntent. Either way the credit comes from the payment_intent.succeeded
    webhook (apply_payment_intent), once.
    """
    payment, done = _start_payment(
        user,
        CardPayment.Purpose.TOPUP,
        amount,
        _("ChargeHub wallet top-up"),
        idempotency_key or f"topup:{uuid.uuid4()}",
    )
    if done:
        return _outcome(payment)
    payment_method = default_card(user)
    return _create_payment_intent(
        payment, payment_method=payment_method, confirm=bool(payment_method), off_session=False
    )


def apply_payment_intent(payment_intent_id: str) -> CardPayment | None:
    """Bring our record of a PaymentIntent up to date with Stripe, and credit top-ups.

    The event that brought us here is only a nudge: the PaymentIntent is fetched from
    Stripe, so events that arrive late, twice or out of order all end in the same
    state. A top-up is credited once, under the PaymentIntent's id.
    """
    api_key = stripe_api_key()
    intent = stripe.PaymentIntent.retrieve(payment_intent_id, api_key=api_key)
    key = (intent.metadata or {}).get(METADATA_KEY) or ""
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().filter(idempotency_key=key).first()
        if payment is None:
            return None  # not one of ours (another integration on the same account)
        payment.payment_intent_id = intent.id
        payment.status = intent.status
        payment.save(update_fields=["payment_intent_id", "status"])
        if payment.purpose == CardPayment.Purpose.TOPUP and intent.status == "succeeded":
            paid = from_minor_units(intent.amount)
            if paid != payment.amount:
                raise PaymentError(
                    _("PaymentIntent %(id)s is for %(paid)s SEK, the top-up was %(amount)s SEK.")
                    % {"id": intent.id, "paid": paid, "amount": payment.amount}
                )
            wallet.record_topup(payment.user, paid, intent.id)
    return payment


def _start_payment(
    user: User, purpose: str, amount: Decimal, description: str, idempotency_key: str
) -> tuple[CardPayment, bool]:
    """Our record of the payment, created before Stripe is asked; done: Stripe answered."""
    stripe_api_key()
    try:
        amount = wallet.positive_amount(amount)
    except wallet.WalletError as error:
        raise PaymentError(str(error)) from error
    if amount < MINIMUM_CHARGE:
        raise PaymentError(
            _("Stripe cannot charge less than %(minimum)s SEK.") % {"minimum": MINIMUM_CHARGE}
        )
    if not idempotency_key:
        raise PaymentError(_("A card payment needs an idempotency key."))
    payment, _created = CardPayment.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={"user": user, "purpose": purpose, "amount": amount, "description": description},
    )
    if (payment.user_id, payment.purpose, payment.amount) != (user.pk, purpose, amount):
        raise PaymentError(
            _("The idempotency key %(key)s was used for another payment.")
            % {"key": idempotency_key}
        )
    return payment, bool(payment.payment_intent_id or payment.status)


def _create_payment_intent(
    payment: CardPayment, *, payment_method: str | None, confirm: bool, off_session: bool
) -> stripe.PaymentIntent:
    api_key = stripe_api_key()
    customer = ensure_customer(payment.user)
    params: dict[str, Any] = {
        "amount": to_minor_units(payment.amount),
        "currency": CURRENCY,
        "customer": customer.id,
        "description": payment.description,
        "metadata": {METADATA_KEY: payment.idempotency_key, "purpose": payment.purpose},
    }
    if payment_method:
        params["payment_method"] = payment_method
    if confirm:
        params["confirm"] = True
    if off_session:
        params["off_session"] = True
    try:
        intent = stripe.PaymentIntent.create(
            **params, idempotency_key=payment.idempotency_key, api_key=api_key
        )
    except stripe.CardError as error:
        # Stripe hands back the PaymentIntent of a declined confirmation with the error.
        failed = (error.error and error.error.payment_intent) or None
        payment.payment_intent_id = _id(failed) or ""
        payment.status = "declined"
        payment.save(update_fields=["payment_intent_id", "status"])
        raise CardDeclined(error.user_message or str(error)) from error
    payment.payment_intent_id = intent.id
    payment.status = intent.status
    payment.save(update_fields=["payment_intent_id", "status"])
    return intent


def _outcome(payment: CardPayment) -> stripe.PaymentIntent:
    """What the first attempt under this idempotency key ended in."""
    if payment.status == "declined":
        raise CardDeclined(_("The card was declined."))
    return stripe.PaymentIntent.retrieve(payment.payment_intent_id, api_key=stripe_api_key())


def _id(value: Any) -> str | None:
    """The id of a Stripe reference, whether it came expanded or as a plain id."""
    if value is None or isinstance(value, str):
        return value
    return value["id"] if isinstance(value, dict) else value.id
