"""Ad hoc payment by a guest at the charger: scan the QR code, pay by card, charge.

Every connector has a public page (guest_path) showing its price. A guest without an
account leaves an email address for the receipt, and then:

1. start(): the charger must be online, the connector free, a tariff must apply and
   Stripe be configured. A GuestPayment with a one-off id tag is created, and a
   PaymentIntent with manual capture for BILLING_GUEST_PREAUTHORISATION: the browser
   confirms the card on it with Stripe.js, which puts a hold on the money.
2. card_authorised(): when the guest comes back to the status page. Once Stripe holds
   the money (requires_capture) the id tag becomes an IdToken, so that the charger's
   Authorize and StartTransaction are accepted, and the charger is asked to start
   (RemoteStartTransaction). A charger that refuses or cannot be reached releases the
   hold at once.
3. collect(): when the session has ended and been priced (billing/settlement.py). The
   price is captured, at most what was authorised; Stripe releases the rest. A
   receipt is issued and emailed, and the one-off id tag is blocked.

Every step may run twice (a reloaded page, a retried task, two at once): each moves the
GuestPayment from one status to the next with a conditional UPDATE, so only one caller
acts on a step, and calls to Stripe carry idempotency keys, so a repeated call to
Stripe is answered from the first.
"""

import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import segno
import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from billing import charges, documents, invoicing, money, payments, tariffs
from billing.models import GuestPayment, SessionCharge
from billing.pricing import Price
from billing.tariffs import PricePreview
from stations import operations
from stations.models import ChargingSession, Connector
from stations.ocpp import commands
from users.models import IdToken

logger = logging.getLogger(__name__)

Status = GuestPayment.Status
# Where a guest can start: a car may already be plugged in (Preparing), OCPP 1.6 §7.7.
STARTABLE = {Connector.Status.AVAILABLE, Connector.Status.PREPARING}
# The metadata key naming the GuestPayment on its PaymentIntent, for staff at Stripe.
METADATA_KEY = "chargehub_guest_payment"
# The one-off id tag works this long after the card was authorised: time enough to plug
# in; the session itself may go on longer (a charger checks the tag when it starts).
TOKEN_VALIDITY = timedelta(hours=4)
# A guest who paid but has not plugged in yet holds the connector this long, so that a
# second guest scanning the same code meanwhile is not sent to pay for a busy connector.
PLUG_IN_WINDOW = timedelta(minutes=15)
# A card page left this long without the charger being started is abandoned: its hold
# is released (release_abandoned_holds).
ABANDONED_AFTER = timedelta(hours=1)
# Stripe cancels an uncaptured PaymentIntent after 7 days: older ones hold nothing.
HOLD_LIFETIME = timedelta(days=7)
# A guest's session is stopped when its cost so far reaches this share of the hold,
# so that the final price stays within what can be captured.
STOP_AT_SHARE_OF_HOLD = Decimal("0.9")
# "G" + 16 hex digits: 17 characters of OCPP 1.6's CiString20 IdToken, upper case.
ID_TAG_PREFIX = "G"
ID_TAG_RANDOM_BYTES = 8


class GuestPaymentError(ValueError):
    """A guest payment that cannot go on as asked; str() is for the guest."""


class ConnectorNotReady(GuestPaymentError):
    """The charger is offline or the connector is busy: try again later or elsewhere."""


class NoTariff(GuestPaymentError):
    """No price applies here, so nobody can say what the guest would pay."""


class NotConfigured(GuestPaymentError):
    """Card payments are not configured on this server (no Stripe keys)."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "Paying by card is not configured on this server yet "
                "(STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY are not set)."
            )
        )


# --- The public address of a connector --------------------------------------------------


def guest_path(connector: Connector) -> str:
    """The connector's public page, e.g. /charge/CP-1/1/."""
    return reverse(
        "guest:connector",
        kwargs={
            "charge_point_id": connector.charge_point.charge_point_id,
            "connector_id": connector.connector_id,
        },
    )


def public_base_url() -> str:
    """How the public reaches this site (BILLING_PUBLIC_URL), without a trailing slash."""
    return settings.BILLING_PUBLIC_URL.rstrip("/")


def guest_url(connector: Connector) -> str:
    """The absolute address printed on the charger (BILLING_PUBLIC_URL + guest_path)."""
    return public_base_url() + guest_path(connector)


def qr_code_svg(url: str) -> SafeString:
    """An SVG QR code of `url`, to be put inline in an HTML page.

    Error correction level Q (25 % of the code may be unreadable): a sticker on a
    charger outdoors gets scratched and dirty. Safe to put in a template as it is: the
    SVG is segno's path data, with nothing of the URL in it as text.
    """
    svg = segno.make(url, error="q", micro=False).svg_inline(scale=6, border=4)
    return mark_safe(svg)


# --- 1. Start ------------------------------------------------------------------------------


def configured() -> bool:
    """Both Stripe keys: the server's to create PaymentIntents, the browser's to pay."""
    return payments.payments_configured() and bool(settings.STRIPE_PUBLISHABLE_KEY)


def check_can_start(connector: Connector) -> PricePreview:
    """The price a guest would pay here now; GuestPaymentError when they cannot start.

    The connector page asks this to show why the form is not there; start() asks it
    again when the form is sent, since the answer may have changed in between.
    """
    if not configured():
        raise NotConfigured()
    charge_point = connector.charge_point
    if connector.connector_id == 0:
        # Connector 0 is the charger as a whole (OCPP 1.6 §7.7), never a place to plug in.
        raise ConnectorNotReady(_("Choose a connector of this charger."))
    if not charge_point.is_online():
        raise ConnectorNotReady(
            _("The charger %(charger)s is offline right now. Please try again later.")
            % {"charger": charge_point.charge_point_id}
        )
    if connector.status not in STARTABLE:
        raise ConnectorNotReady(
            _("Connector %(connector)s is not available right now (%(status)s).")
            % {"connector": connector.connector_id, "status": connector.get_status_display()}
        )
    if _held_by_another_guest(connector):
        raise ConnectorNotReady(
            _("Another guest has just paid to charge at connector %(connector)s.")
            % {"connector": connector.connector_id}
        )
    preview = tariffs.price_preview(connector, None)
    if preview is None:
        raise NoTariff(_("No price is set for this connector, so it cannot be paid for here."))
    if preview.currency.lower() != payments.CURRENCY:
        raise NoTariff(
            _("This connector is priced in %(currency)s; card payment here is in SEK only.")
            % {"currency": preview.currency}
        )
    return preview


def _held_by_another_guest(connector: Connector) -> bool:
    return GuestPayment.objects.filter(
        connector=connector,
        status__in=[Status.AUTHORISED, Status.STARTED],
        session__isnull=True,
        created_at__gte=timezone.now() - PLUG_IN_WINDOW,
    ).exists()


def start(connector: Connector, *, email: str, language: str) -> GuestPayment:
    """A guest payment for this connector, with a PaymentIntent for the browser to confirm.

    GuestPaymentError when the guest cannot start here (see check_can_start) or Stripe
    did not take the PaymentIntent. The amount is BILLING_GUEST_PREAUTHORISATION, held
    on the card, not charged: the actual price is captured when the session ends.
    """
    check_can_start(connector)
    api_key = payments.stripe_api_key()
    amount = money.round_to_ore(settings.BILLING_GUEST_PREAUTHORISATION)
    guest_payment = _create_with_new_id_tag(connector, email, language, amount)
    with translation.override(guest_payment.language):
        description = _("Charging at %(charger)s, connector %(connector)s") % {
            "charger": connector.charge_point.charge_point_id,
            "connector": connector.connector_id,
        }
    try:
        intent = stripe.PaymentIntent.create(
            amount=payments.to_minor_units(amount),
            currency=payments.CURRENCY,
            capture_method="manual",
            payment_method_types=["card"],
            description=description,
            metadata={
                METADATA_KEY: str(guest_payment.public_id),
                "id_tag": guest_payment.id_tag,
                "connector": f"{connector.charge_point.charge_point_id}#{connector.connector_id}",
            },
            idempotency_key=f"guest:{guest_payment.public_id}:authorise",
            api_key=api_key,
        )
    except stripe.StripeError as error:
        logger.warning("Stripe refused guest payment %s: %s", guest_payment.public_id, error)
        _record(guest_payment, status=Status.FAILED, error=str(error)[:255])
        raise GuestPaymentError(
            _("The card payment could not be started. Please try again.")
        ) from error
    _record(guest_payment, payment_intent_id=intent.id)
    return guest_payment


def _create_with_new_id_tag(
    connector: Connector, email: str, language: str, amount: Decimal
) -> GuestPayment:
    # 64 random bits: a collision is all but impossible, and a tag in use (by a guest
    # or an RFID card) is never handed out again, since a charger trusts the tag alone.
    for _attempt in range(5):
        id_tag = ID_TAG_PREFIX + secrets.token_hex(ID_TAG_RANDOM_BYTES).upper()
        if IdToken.objects.filter(uid=id_tag).exists():
            continue
        try:
            with transaction.atomic():
                return GuestPayment.objects.create(
                    connector=connector,
                    email=email,
                    language=language[:8],
                    id_tag=id_tag,
                    amount_authorised=amount,
                )
        except IntegrityError:
            continue
    raise GuestPaymentError(_("Please try again."))


def client_secret(guest_payment: GuestPayment) -> str:
    """What Stripe.js needs to confirm the card on this guest's PaymentIntent."""
    intent = stripe.PaymentIntent.retrieve(
        guest_payment.payment_intent_id, api_key=payments.stripe_api_key()
    )
    return intent.client_secret


# --- 2. The card is authorised: start the connector -----------------------------------------


def card_authorised(guest_payment: GuestPayment) -> GuestPayment:
    """Start the connector once Stripe holds the money; nothing new on a second call.

    While the card is not confirmed (or was declined) the guest payment stays CREATED,
    with the bank's answer in `error`, and the guest may try another card.
    """
    if guest_payment.status != Status.CREATED or not guest_payment.payment_intent_id:
        return guest_payment
    api_key = payments.stripe_api_key()
    intent = stripe.PaymentIntent.retrieve(guest_payment.payment_intent_id, api_key=api_key)
    if intent.status == "canceled":
        cancelled = _("The card payment was cancelled.")
        _advance(guest_payment, [Status.CREATED], status=Status.FAILED, error=cancelled)
        return _fresh(guest_payment)
    if intent.status != "requires_capture":
        error = (_stripe_field(intent, "last_payment_error") or {}).get("message") or ""
        if error != guest_payment.error:
            _record(guest_payment, error=error[:255])
        return guest_payment

    # Two page loads at once both get here: the one whose UPDATE moves the status on
    # starts the charger, the other shows what it did.
    with transaction.atomic():
        claimed = _advance(guest_payment, [Status.CREATED], status=Status.AUTHORISED, error="")
        if claimed:
            _issue_token(guest_payment)
    # Committed before the command: the charger's Authorize is answered by the server
    # process, from the database.
    if not claimed:
        return _fresh(guest_payment)
    return _remote_start(_fresh(guest_payment))


def _issue_token(guest_payment: GuestPayment) -> None:
    IdToken.objects.get_or_create(
        uid=guest_payment.id_tag,
        defaults={
            "type": IdToken.Type.APP,
            "name": (_("Guest %(email)s") % {"email": guest_payment.email or "-"})[:100],
            "expires_at": timezone.now() + TOKEN_VALIDITY,
        },
    )


def _remote_start(guest_payment: GuestPayment) -> GuestPayment:
    connector = guest_payment.connector
    charge_point_id = connector.charge_point.charge_point_id
    try:
        answer = operations.remote_start(
            charge_point_id, guest_payment.id_tag, connector.connector_id, source="guest"
        )
    except commands.CommandError as error:
        # A timeout may hide a charger that started anyway: its StartTransaction then
        # meets a blocked tag and is answered Blocked (OCPP 1.6 §4.8), so it stops.
        logger.warning("Guest %s: remote start failed: %s", guest_payment.public_id, error)
        _release(guest_payment, _describe_command_error(error))
        return _fresh(guest_payment)
    if answer.status != "Accepted":
        _release(
            guest_payment,
            _("The charger did not start (it answered %(status)s). Nothing was charged.")
            % {"status": answer.status},
        )
        return _fresh(guest_payment)
    _advance(guest_payment, [Status.AUTHORISED], status=Status.STARTED)
    return _fresh(guest_payment)


def _describe_command_error(error: commands.CommandError) -> str:
    # The charger's failure in the words of every other page (stations.operations).
    reason = operations.command_failure(error).message
    return _("The charger did not start. %(reason)s Nothing was charged.") % {"reason": reason}


def _release(
    guest_payment: GuestPayment,
    error: str,
    *,
    expected: list[str] | None = None,
    status: str = Status.FAILED,
) -> bool:
    """Give the guest their money back (cancel the hold) and retire the id tag.

    The status moves first: a card_authorised() or collect() running at the same time
    then finds it moved and leaves the hold alone. False: another caller moved it first.
    """
    expected = expected or [Status.AUTHORISED]
    if not _advance(guest_payment, expected, status=status, error=error[:255]):
        return False
    _block_token(guest_payment)
    try:
        stripe.PaymentIntent.cancel(
            guest_payment.payment_intent_id,
            idempotency_key=f"guest:{guest_payment.public_id}:release",
            api_key=payments.stripe_api_key(),
        )
    except stripe.StripeError as stripe_error:
        # Stripe drops an uncaptured hold by itself after 7 days; staff see why here.
        logger.warning(
            "Guest %s: releasing the hold failed: %s", guest_payment.public_id, stripe_error
        )
        _record(guest_payment, error=f"{error} ({stripe_error})"[:255])
    return True


# --- While charging -------------------------------------------------------------------------


def session_of(guest_payment: GuestPayment) -> ChargingSession | None:
    """The session the guest's id tag started, once the charger reported it."""
    if guest_payment.session_id is not None:
        return guest_payment.session
    session = (
        ChargingSession.objects.filter(
            connector_id=guest_payment.connector_id, id_tag=guest_payment.id_tag
        )
        .order_by("started_at", "pk")
        .first()
    )
    if session is not None:
        GuestPayment.objects.filter(pk=guest_payment.pk, session__isnull=True).update(
            session=session
        )
        guest_payment.session = session
    return session


def cost_so_far(guest_payment: GuestPayment) -> Price | None:
    """The running price of the guest's session (final once it stopped), or None."""
    session = session_of(guest_payment)
    return tariffs.cost_so_far(session) if session is not None else None


# --- Housekeeping (periodic tasks) -------------------------------------------------------------


def stop_sessions_nearing_their_hold() -> int:
    """Ask chargers to stop guest sessions whose cost so far nears the amount held.

    The hold is all that can be captured (see collect()); stopping at
    STOP_AT_SHARE_OF_HOLD leaves room for what comes after (the last meter readings,
    the StopTransaction). For a periodic task, every minute; returns how many stops were
    sent.
    """
    asked = 0
    recent = timezone.now() - HOLD_LIFETIME
    for guest_payment in GuestPayment.objects.filter(
        status=Status.STARTED, created_at__gte=recent
    ).select_related("session", "connector__charge_point"):
        session = session_of(guest_payment)
        if session is None or session.status != ChargingSession.Status.ACTIVE:
            continue
        price = tariffs.cost_so_far(session)
        if price is None or price.gross < guest_payment.amount_authorised * STOP_AT_SHARE_OF_HOLD:
            continue
        try:
            operations.remote_stop(session, source="guest")
        except commands.CommandError as error:
            logger.warning("Guest %s: remote stop failed: %s", guest_payment.public_id, error)
            continue
        asked += 1
    return asked


def release_abandoned_holds(now: datetime | None = None) -> int:
    """Give back holds nobody will use; returns how many were released.

    Stripe would drop an uncaptured hold only after 7 days, keeping the guest's money
    that long. Released here: a card held (or still being entered) for a guest who
    never came back to start the charger, ABANDONED_AFTER on; and a started connector
    that never reported a session, once the one-off tag has expired. For a periodic
    task.
    """
    now = now or timezone.now()
    released = 0
    never_returned = GuestPayment.objects.filter(
        status=Status.CREATED, created_at__lt=now - ABANDONED_AFTER
    ).exclude(payment_intent_id="")
    for guest_payment in never_returned:
        if _release(
            guest_payment,
            _("The charger was never started. Nothing was charged."),
            expected=[Status.CREATED],
        ):
            released += 1
    never_plugged_in = GuestPayment.objects.filter(
        status__in=[Status.AUTHORISED, Status.STARTED],
        session__isnull=True,
        created_at__lt=now - TOKEN_VALIDITY,
    )
    for guest_payment in never_plugged_in:
        if session_of(guest_payment) is not None:
            continue  # charging after all: collect() settles it when it ends
        if _release(
            guest_payment,
            _("No charging session was started. Nothing was charged."),
            expected=[Status.AUTHORISED, Status.STARTED],
            status=Status.RELEASED,
        ):
            released += 1
    return released


# --- 3. The session ended: take the money ---------------------------------------------------


def collect(charge: SessionCharge) -> None:
    """Capture the price of a guest's finished session, release the rest, send a receipt.

    `charge.gross` is the final price. What is captured:
    - 0: nothing; the hold is cancelled (RELEASED) and no receipt is issued.
    - up to the authorised amount: exactly the price. That includes prices below
      Stripe's minimum charge (payments.MINIMUM_CHARGE, 3 SEK): the minimum applies to
      creating a PaymentIntent, and this one was created for the full pre-authorisation;
      Stripe captures a smaller part of an authorised amount. Capturing the minimum
      instead would overcharge the guest; cancelling would give the energy away.
    - above the authorised amount: the authorised amount, which is all the card holds
      for us; the shortfall is written to the guest payment's `error` and the charge's
      `last_error` for staff.
    A second call captures nothing: it only issues a receipt that a crash prevented.
    Stripe failures are recorded on the charge (`last_error`, still PENDING), not
    raised: the settlement's periodic run calls again.
    """
    session = charge.session
    guest_payment = GuestPayment.objects.filter(id_tag=session.id_tag).first()
    if guest_payment is None:
        logger.error("Session %s is not a guest's: no GuestPayment for its tag", session.pk)
        return
    if guest_payment.session_id is None:
        GuestPayment.objects.filter(pk=guest_payment.pk, session__isnull=True).update(
            session=session
        )
        guest_payment = _fresh(guest_payment)
    if guest_payment.session_id != session.pk:
        # The tag works until its first session is collected, so a guest who unplugs
        # and plugs in again makes a second session; the hold pays for the first only.
        _charge_failed(
            charge,
            _(
                "Guest id tag %(tag)s was already used by session %(first)s; the card "
                "authorisation does not cover this one."
            )
            % {"tag": guest_payment.id_tag, "first": guest_payment.session_id},
        )
        return
    if guest_payment.status in (Status.CAPTURED, Status.RELEASED):
        _send_receipt(guest_payment, charge)
        return
    if guest_payment.status not in (Status.AUTHORISED, Status.STARTED):
        # The card was never held (CREATED) or the hold was released (FAILED), yet the
        # charger charged: there is nothing to capture; staff decide.
        _charge_failed(
            charge,
            _("The guest's card was not authorised for this session (%(status)s).")
            % {"status": guest_payment.get_status_display()},
        )
        return

    price = max(charge.gross, Decimal(0))
    amount = min(price, guest_payment.amount_authorised)
    shortfall = price - amount
    try:
        outcome = _capture(guest_payment, amount)
    except (stripe.StripeError, payments.PaymentsNotConfigured, GuestPaymentError) as error:
        logger.warning("Guest %s: capture failed: %s", guest_payment.public_id, error)
        # Only while still unsettled: a concurrent call that did capture keeps its record.
        _advance(guest_payment, [Status.AUTHORISED, Status.STARTED], error=str(error)[:255])
        charges.note_error(charge, str(error))
        return
    intent_id, captured = outcome
    note = ""
    if shortfall > 0:
        note = _(
            "The price %(price)s SEK exceeds the %(authorised)s SEK authorised: "
            "%(shortfall)s SEK could not be collected."
        ) % {"price": price, "authorised": guest_payment.amount_authorised, "shortfall": shortfall}
    elif captured < amount:
        # Stripe cancelled the hold by itself (uncaptured for 7 days).
        note = _(
            "The card authorisation expired before the session ended: %(amount)s SEK lost."
        ) % {"amount": amount}
    with transaction.atomic():
        won = _advance(
            guest_payment,
            [Status.AUTHORISED, Status.STARTED],
            status=Status.CAPTURED if captured > 0 else Status.RELEASED,
            amount_captured=captured,
            error=note[:255],
        )
        if won:
            _charge_settled(charge, intent_id, captured, note)
    _block_token(guest_payment)
    if won:
        _send_receipt(_fresh(guest_payment), charge)


def _capture(guest_payment: GuestPayment, amount: Decimal) -> tuple[str, Decimal]:
    """(PaymentIntent id, amount captured): capture `amount`, or cancel the hold for 0.

    A PaymentIntent found already captured or cancelled was settled by an earlier call
    that died before recording it; it is not asked again.
    """
    api_key = payments.stripe_api_key()
    intent_id = guest_payment.payment_intent_id
    intent = stripe.PaymentIntent.retrieve(intent_id, api_key=api_key)
    if intent.status == "requires_capture":
        if amount > 0:
            intent = stripe.PaymentIntent.capture(
                intent_id,
                amount_to_capture=payments.to_minor_units(amount),
                idempotency_key=f"guest:{guest_payment.public_id}:capture",
                api_key=api_key,
            )
        else:
            intent = stripe.PaymentIntent.cancel(
                intent_id,
                idempotency_key=f"guest:{guest_payment.public_id}:release",
                api_key=api_key,
            )
    if intent.status == "succeeded":
        received = _stripe_field(intent, "amount_received")
        return intent.id, payments.from_minor_units(received) if received is not None else amount
    if intent.status == "canceled":
        return intent.id, Decimal(0)
    raise GuestPaymentError(
        _("The PaymentIntent is %(status)s; it cannot be captured.") % {"status": intent.status}
    )


def _stripe_field(stripe_object: Any, name: str) -> Any:
    # Stripe objects raise AttributeError for fields the API did not send.
    return stripe_object.to_dict().get(name)


def _charge_settled(charge: SessionCharge, intent_id: str, captured: Decimal, note: str) -> None:
    try:
        charges.settle_guest(charge, intent_id, captured, note)
    except charges.IllegalTransition:
        # The capture is recorded on the guest payment, which is what staff reconcile.
        logger.exception("Guest session %s captured, its charge not updated", charge.session_id)


def _charge_failed(charge: SessionCharge, error: str) -> None:
    """Nothing can be collected from the guest's card: left FAILED, for staff."""
    try:
        charges.give_up(charge, error)
    except charges.IllegalTransition:
        pass  # settled or failed already by another run


def _send_receipt(guest_payment: GuestPayment, charge: SessionCharge) -> None:
    """Issue the receipt of a paid guest session and email it, each at most once.

    Both are idempotent in billing/invoicing.py (locked rows), so a second collect()
    only catches up what a crash in between left undone.
    """
    if guest_payment.status != Status.CAPTURED:
        return
    charge.refresh_from_db()
    receipt = invoicing.issue_receipt(charge)
    if guest_payment.receipt_id != receipt.pk:
        _record(guest_payment, receipt=receipt)
    if receipt.emailed_at is None and receipt.buyer_email:
        documents.email_if_not_sent(receipt.pk)


# --- Small steps ------------------------------------------------------------------------------


def _block_token(guest_payment: GuestPayment) -> None:
    IdToken.objects.filter(uid=guest_payment.id_tag).update(status=IdToken.Status.BLOCKED)


def _advance(guest_payment: GuestPayment, expected: list[str], **fields: Any) -> bool:
    """Set `fields` if the status is still one of `expected`; False: someone else did."""
    return bool(
        GuestPayment.objects.filter(pk=guest_payment.pk, status__in=expected).update(**fields)
    )


def _record(guest_payment: GuestPayment, **fields: Any) -> None:
    GuestPayment.objects.filter(pk=guest_payment.pk).update(**fields)
    for name, value in fields.items():
        setattr(guest_payment, name, value)


def _fresh(guest_payment: GuestPayment) -> GuestPayment:
    guest_payment.refresh_from_db()
    return guest_payment
