"""Billing: tariffs, where they apply and to whom; payments follow at the end of the file.

Tariff prices are NET, excluding VAT (moms); drivers are shown them incl. VAT as well
(billing/tariffs.py). The price of a session is computed in billing/pricing.py only.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.pricing import TariffTerms, TimeOfUse

if TYPE_CHECKING:
    from stations.models import ChargePoint, Connector

NON_NEGATIVE = [MinValueValidator(0)]


class CustomerGroup(models.Model):
    """Drivers who get their own tariffs: a fleet, a subscription plan, staff."""

    class Kind(models.TextChoices):
        FLEET = "fleet", _("Fleet")
        PLAN = "plan", _("Subscription plan")
        STAFF = "staff", _("Staff")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="customer_groups",
        verbose_name=_("members"),
    )
    charging_priority = models.IntegerField(
        _("charging priority"),
        default=0,
        help_text=_(
            "Smart charging: where a site's grid limit is short, higher priorities are "
            "served first (a driver in several groups gets the highest)."
        ),
    )

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Tariff(models.Model):
    """Prices for charging. All prices exclude VAT; `vat_rate` is added on top.

    A price change is a new tariff (or a new assignment) valid from the moment of the
    change: a session keeps the tariff that applied when it started.
    """

    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default="SEK")
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(25),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    price_per_kwh = models.DecimalField(
        _("price per kWh, excl. VAT"),
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        validators=NON_NEGATIVE,
    )
    price_per_minute = models.DecimalField(
        _("price per minute of charging, excl. VAT"),
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        validators=NON_NEGATIVE,
    )
    session_fee = models.DecimalField(
        _("session start fee, excl. VAT"),
        max_digits=10,
        decimal_places=2,
        default=Decimal(0),
        validators=NON_NEGATIVE,
    )
    idle_fee_per_minute = models.DecimalField(
        _("idle fee per minute, excl. VAT"),
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        validators=NON_NEGATIVE,
        help_text=_("Charged once the car has stopped drawing power and the grace period is over."),
    )
    idle_grace_minutes = models.PositiveIntegerField(_("idle grace period (minutes)"), default=0)
    no_show_fee = models.DecimalField(
        _("no-show fee, excl. VAT"),
        max_digits=10,
        decimal_places=2,
        default=Decimal(0),
        validators=NON_NEGATIVE,
        help_text=_(
            "Charged when a booked slot is not used, or cancelled later than free "
            "cancellation allows."
        ),
    )
    min_price = models.DecimalField(
        _("minimum session price, excl. VAT"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
    )
    max_price = models.DecimalField(
        _("maximum session price, excl. VAT"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
    )
    valid_from = models.DateTimeField(
        _("valid from"),
        null=True,
        blank=True,
        help_text=_("Applies to sessions that start at or after this moment."),
    )
    valid_until = models.DateTimeField(
        _("valid until"),
        null=True,
        blank=True,
        help_text=_("Applies to sessions that start before this moment."),
    )

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_price__isnull=True)
                | Q(max_price__isnull=True)
                | Q(min_price__lte=models.F("max_price")),
                name="tariff_min_price_not_above_max_price",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_from__lt=models.F("valid_until")),
                name="tariff_valid_from_before_valid_until",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            errors["max_price"] = _("The maximum price cannot be below the minimum price.")
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            errors["valid_until"] = _("A tariff must end after it starts.")
        if errors:
            raise ValidationError(errors)

    def is_valid_at(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_until is None or moment < self.valid_until
        )

    def terms(self) -> TariffTerms:
        """This tariff as the pure pricing code takes it."""
        return TariffTerms(
            name=self.name,
            currency=self.currency,
            vat_rate=self.vat_rate,
            price_per_kwh=self.price_per_kwh,
            price_per_minute=self.price_per_minute,
            session_fee=self.session_fee,
            idle_fee_per_minute=self.idle_fee_per_minute,
            idle_grace_minutes=self.idle_grace_minutes,
            min_price=self.min_price,
            max_price=self.max_price,
            # An unsaved tariff has no periods yet.
            time_of_use=tuple(period.terms() for period in self.time_of_use.all())
            if self.pk
            else (),
        )


validate_weekdays = RegexValidator(
    r"^(?!.*(.).*\1)[1-7]{1,7}$",
    _("ISO weekday numbers, each at most once: 1 = Monday … 7 = Sunday, e.g. 12345."),
)


class TimeOfUsePeriod(models.Model):
    """A weekly window of a tariff with its own prices, in the site's local time.

    The window belongs to the weekday it starts on; an end at or before the start runs
    past midnight; start = end is the whole day. Where windows overlap, the first listed
    (by position) wins.
    """

    tariff = models.ForeignKey(
        Tariff, models.CASCADE, related_name="time_of_use", verbose_name=_("tariff")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=50, help_text=_("e.g. Night, Peak"))
    weekdays = models.CharField(
        _("weekdays"),
        max_length=7,
        default="1234567",
        validators=[validate_weekdays],
        help_text=_("1 = Monday … 7 = Sunday; 12345 is Monday to Friday."),
    )
    start_time = models.TimeField(_("from (local time)"))
    end_time = models.TimeField(_("until (local time)"))
    price_per_kwh = models.DecimalField(
        _("price per kWh, excl. VAT"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text=_("Empty: the tariff's price."),
    )
    price_per_minute = models.DecimalField(
        _("price per minute, excl. VAT"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text=_("Empty: the tariff's price."),
    )

    class Meta:
        verbose_name = _("time-of-use period")
        verbose_name_plural = _("time-of-use periods")
        ordering = ["tariff", "position", "id"]

    def __str__(self) -> str:
        return f"{self.name} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def terms(self) -> TimeOfUse:
        return TimeOfUse(
            name=self.name,
            weekdays=frozenset(int(day) for day in self.weekdays),
            start=self.start_time,
            end=self.end_time,
            price_per_kwh=self.price_per_kwh,
            price_per_minute=self.price_per_minute,
        )


class TariffAssignment(models.Model):
    """Which tariff applies where, and to whom.

    Exactly one of site, charge point or connector. For a session the most specific
    valid assignment wins: one for a customer group of the driver beats one for everyone;
    then connector beats charge point beats site; then the one that became valid last.
    """

    class Level(models.TextChoices):
        CONNECTOR = "connector", _("Connector")
        CHARGE_POINT = "charge_point", _("Charge point")
        SITE = "site", _("Site")

    tariff = models.ForeignKey(
        Tariff, models.PROTECT, related_name="assignments", verbose_name=_("tariff")
    )
    site = models.ForeignKey(
        "stations.Site",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("site"),
    )
    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("charge point"),
    )
    connector = models.ForeignKey(
        "stations.Connector",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("connector"),
    )
    customer_group = models.ForeignKey(
        CustomerGroup,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
        verbose_name=_("customer group"),
        help_text=_("Empty: everyone without a tariff of their own group here."),
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("tariff assignment")
        verbose_name_plural = _("tariff assignments")
        ordering = ["tariff", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(site__isnull=False, charge_point__isnull=True, connector__isnull=True)
                | Q(site__isnull=True, charge_point__isnull=False, connector__isnull=True)
                | Q(site__isnull=True, charge_point__isnull=True, connector__isnull=False),
                name="tariff_assignment_exactly_one_place",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_from__lt=models.F("valid_until")),
                name="tariff_assignment_valid_from_before_valid_until",
            ),
        ]

    def __str__(self) -> str:
        whom = f" ({self.customer_group.name})" if self.customer_group_id else ""
        return f"{self.tariff} @ {self.get_level_display()} {self.place}{whom}"

    def clean(self) -> None:
        places = [self.site_id, self.charge_point_id, self.connector_id]
        if sum(place is not None for place in places) != 1:
            raise ValidationError(
                _("Choose exactly one of site, charge point or connector."), code="place"
            )
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValidationError({"valid_until": _("An assignment must end after it starts.")})

    @property
    def level(self) -> str:
        if self.connector_id is not None:
            return self.Level.CONNECTOR
        if self.charge_point_id is not None:
            return self.Level.CHARGE_POINT
        return self.Level.SITE

    def get_level_display(self) -> str:
        return str(self.Level(self.level).label)

    @property
    def place(self) -> object:
        return self.connector or self.charge_point or self.site

    def is_valid_at(self, moment: datetime) -> bool:
        return (
            (self.valid_from is None or self.valid_from <= moment)
            and (self.valid_until is None or moment < self.valid_until)
            and self.tariff.is_valid_at(moment)
        )


# --- Payments (billing/payments.py) ---


class WalletEntry(models.Model):
    """One line of a driver's prepaid wallet; the balance is the sum of the lines.

    A ledger, never a stored balance: entries are only ever added, so every krona can
    be traced to a card payment, a charging session or a member of staff. Credits are
    positive, debits negative. A reference names what the entry is for (a Stripe
    PaymentIntent, a charging session, a bank transfer) and is unique per kind, which
    makes recording the same thing twice impossible (billing/wallet.py).
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Top-up by card")
        DEBIT = "debit", _("Debit")
        REFUND = "refund", _("Refund")
        MANUAL_CREDIT = "manual_credit", _("Manual credit by staff")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        related_name="wallet_entries",
        verbose_name=_("driver"),
    )
    amount = models.DecimalField(
        _("amount (SEK)"),
        max_digits=12,
        decimal_places=2,
        help_text=_("Positive: money into the wallet. Negative: money taken from it."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    reference = models.CharField(_("reference"), max_length=255)
    note = models.TextField(
        _("reason"), blank=True, help_text=_("Why a member of staff credited this wallet.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("wallet entry")
        verbose_name_plural = _("wallet entries")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "reference"], name="wallet_entry_reference_unique_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(kind="debit", amount__lt=0) | (~Q(kind="debit") & Q(amount__gt=0)),
                name="wallet_entry_debits_negative_credits_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind="manual_credit") | (Q(created_by__isnull=False) & ~Q(note="")),
                name="wallet_entry_manual_credit_says_who_and_why",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} SEK ({self.reference})"


class CardPayment(models.Model):
    """A card payment ChargeHub asked Stripe for: an off-session charge or a top-up.

    Created before Stripe is called, under the caller's idempotency key, so that a retry
    (a double click, a re-run task) finds the first attempt instead of charging again;
    the same key goes to Stripe as its Idempotency-Key. `status` mirrors the
    PaymentIntent as last seen; Stripe stays the authority (billing/webhooks.py).
    """

    class Purpose(models.TextChoices):
        CHARGE = "charge", _("Charge to card on file")
        TOPUP = "topup", _("Wallet top-up")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        related_name="card_payments",
        verbose_name=_("driver"),
    )
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    amount = models.DecimalField(_("amount (SEK)"), max_digits=12, decimal_places=2)
    description = models.CharField(_("description"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    payment_intent_id = models.CharField(_("Stripe PaymentIntent"), max_length=255, blank=True)
    status = models.CharField(_("status at Stripe"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("card payment")
        verbose_name_plural = _("card payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.amount} SEK ({self.payment_intent_id or '-'})"


# --- Who pays, and how (billing/accounts.py) ---


def default_payment_method() -> str:
    """How a new account pays (BILLING_DEFAULT_PAYMENT_METHOD): postpaid by default, so
    that a driver with an RFID card is not refused before anyone chose otherwise."""
    return settings.BILLING_DEFAULT_PAYMENT_METHOD


class BillingAccount(models.Model):
    """Who pays for charging, and how: one driver, or a fleet (business customer).

    A driver's sessions are paid by the account of a fleet they belong to, if any, else
    by their own account (created with the defaults on first use). The buyer details
    here are copied onto each invoice when it is issued; changing them later does not
    change invoices already issued.
    """

    class PaymentMethod(models.TextChoices):
        WALLET = "wallet", _("Prepaid wallet, debited per session")
        CARD = "card", _("Card on file, charged per session")
        INVOICE = "invoice", _("Monthly invoice")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="billing_account",
        verbose_name=_("driver"),
    )
    fleet = models.OneToOneField(
        CustomerGroup,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="billing_account",
        verbose_name=_("fleet"),
        limit_choices_to={"kind": CustomerGroup.Kind.FLEET},
    )
    payment_method = models.CharField(
        _("payment method"),
        max_length=16,
        choices=PaymentMethod.choices,
        default=default_payment_method,
    )
    charge_invoices_to_card = models.BooleanField(
        _("charge monthly invoices to the card on file"),
        default=False,
        help_text=_("Otherwise the invoice is paid by bank transfer before it is due."),
    )
    name = models.CharField(_("name on invoices"), max_length=200, blank=True)
    email = models.EmailField(_("invoice email"), blank=True)
    address = models.TextField(_("postal address"), blank=True)
    org_number = models.CharField(_("organisation number"), max_length=32, blank=True)
    vat_number = models.CharField(_("VAT number"), max_length=32, blank=True)
    language = models.CharField(
        _("language of invoices"), max_length=8, choices=settings.LANGUAGES, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, fleet__isnull=True)
                | Q(user__isnull=True, fleet__isnull=False),
                name="billing_account_driver_or_fleet",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        if (self.user_id is None) == (self.fleet_id is None):
            raise ValidationError(_("An account belongs to either a driver or a fleet."))
        if self.fleet_id is not None and self.payment_method != self.PaymentMethod.INVOICE:
            raise ValidationError(
                {"payment_method": _("A fleet pays by monthly invoice.")}, code="fleet_method"
            )

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.fleet_id is not None:
            return self.fleet.name
        return self.user.get_full_name() or self.user.email

    @property
    def invoice_email(self) -> str:
        return self.email or (self.user.email if self.user_id else "")

    @property
    def invoice_language(self) -> str:
        if self.language:
            return self.language
        return self.user.language if self.user_id else settings.LANGUAGE_CODE


# --- Invoices, receipts and credit notes (billing/invoicing.py) ---


class InvoiceCounter(models.Model):
    """The last number issued in a series. Issuing locks this row, so that numbers are
    gap-free and never issued twice, however many workers issue at once."""

    series = models.CharField(_("series"), max_length=16, primary_key=True)
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("invoice number series")
        verbose_name_plural = _("invoice number series")

    def __str__(self) -> str:
        return f"{self.series}: {self.last_number}"


class Invoice(models.Model):
    """An issued invoice, receipt or credit note: a legal document, never changed.

    Everything printed on it is copied here when it is issued (seller, buyer, lines,
    totals), so the PDF can be rendered again, identical, years later. Only what
    happens to it afterwards may change: when it was paid, emailed, refunded
    (MUTABLE_FIELDS). A correction is a credit note that `corrects` it. A credit
    note's amounts are negative.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        RECEIPT = "receipt", _("Receipt")
        CREDIT_NOTE = "credit_note", _("Credit note")

    MUTABLE_FIELDS = frozenset({"paid_at", "payment_reference", "emailed_at", "refund_reference"})

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    series = models.CharField(_("series"), max_length=16)
    number = models.PositiveIntegerField(_("number"))
    issued_at = models.DateTimeField(_("issued at"))
    account = models.ForeignKey(
        BillingAccount,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        verbose_name=_("account"),
        help_text=_("Empty for a guest who paid at the charger."),
    )
    language = models.CharField(_("language"), max_length=8, default="sv")
    currency = models.CharField(_("currency"), max_length=3, default="SEK")
    seller = models.JSONField(_("seller"), default=dict)
    buyer_name = models.CharField(_("buyer"), max_length=200, blank=True)
    buyer_email = models.EmailField(_("buyer email"), blank=True)
    buyer_address = models.TextField(_("buyer address"), blank=True)
    buyer_org_number = models.CharField(_("buyer organisation number"), max_length=32, blank=True)
    buyer_vat_number = models.CharField(_("buyer VAT number"), max_length=32, blank=True)
    net = models.DecimalField(_("net"), max_digits=14, decimal_places=2)
    vat = models.DecimalField(_("VAT"), max_digits=14, decimal_places=2)
    gross = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    period_start = models.DateField(_("period from"), null=True, blank=True)
    period_end = models.DateField(_("period until"), null=True, blank=True)
    due_at = models.DateField(_("due date"), null=True, blank=True)
    corrects = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name=_("corrects"),
    )
    note = models.TextField(_("note"), blank=True)
    # Who issued it by hand (a credit note from admin); empty for the automatic ones.
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    # What happened afterwards (MUTABLE_FIELDS):
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=255, blank=True)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)
    refund_reference = models.CharField(_("refund reference"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["series", "number"], name="invoice_number_unique"),
            # The monthly run can be repeated: one invoice per account and month.
            models.UniqueConstraint(
                fields=["account", "period_start"],
                condition=Q(kind="invoice", period_start__isnull=False),
                name="one_monthly_invoice_per_account",
            ),
            models.CheckConstraint(
                condition=Q(kind="credit_note", corrects__isnull=False)
                | (~Q(kind="credit_note") & Q(corrects__isnull=True)),
                name="credit_note_corrects_an_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.display_number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS:
                raise ValidationError(
                    _("An issued %(kind)s cannot be changed; issue a credit note instead.")
                    % {"kind": self.get_kind_display().lower()}
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError(_("Issued invoices are kept; issue a credit note instead."))

    @property
    def display_number(self) -> str:
        return f"{self.series}-{self.number:06d}"


class InvoiceLine(models.Model):
    """One line of an invoice: usually one charging session, priced when it ended, or a
    booking's no-show fee."""

    invoice = models.ForeignKey(
        Invoice, models.CASCADE, related_name="lines", verbose_name=_("invoice")
    )
    position = models.PositiveSmallIntegerField(_("position"))
    session = models.ForeignKey(
        "stations.ChargingSession",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="invoice_lines",
        verbose_name=_("charging session"),
    )
    booking = models.ForeignKey(
        "stations.Booking",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="invoice_lines",
        verbose_name=_("booking"),
    )
    description = models.CharField(_("description"), max_length=255)
    site = models.CharField(_("site"), max_length=200, blank=True)
    charge_point = models.CharField(_("charge point"), max_length=48, blank=True)
    connector = models.PositiveSmallIntegerField(_("connector"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    energy_kwh = models.DecimalField(_("kWh"), max_digits=12, decimal_places=3, default=0)
    duration_minutes = models.DecimalField(
        _("duration (min)"), max_digits=12, decimal_places=3, default=0
    )
    components = models.JSONField(_("price components"), default=list, blank=True)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    net = models.DecimalField(_("net"), max_digits=14, decimal_places=2)
    vat = models.DecimalField(_("VAT"), max_digits=14, decimal_places=2)
    gross = models.DecimalField(_("total"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "position"], name="invoice_line_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.description


# --- Sessions priced and paid (billing/settlement.py) ---


class SessionCharge(models.Model):
    """What a finished session costs, frozen when it ended, and how it is being paid.

    One per session: settling a session twice finds this row. The priced lines are a
    copy of billing.pricing's result under the tariff that applied, so editing a tariff
    later does not change what a past session cost.

    A booking's no-show fee (billing/no_show.py) is a charge too, owned by the booking
    instead of a session (exactly one of the two): it is paid, retried, receipted,
    invoiced and refunded by the same rules as a session.
    """

    class Status(models.TextChoices):
        NOTHING_DUE = "nothing_due", _("Nothing to pay")
        PENDING = "pending", _("Payment pending")
        FAILED = "failed", _("Payment failed, to be retried")
        TO_INVOICE = "to_invoice", _("On the next monthly invoice")
        INVOICED = "invoiced", _("Invoiced")
        PAID = "paid", _("Paid")

    class Method(models.TextChoices):
        WALLET = "wallet", _("Wallet")
        CARD = "card", _("Card on file")
        INVOICE = "invoice", _("Monthly invoice")
        GUEST = "guest", _("Guest card payment")
        NONE = "none", _("None")

    session = models.OneToOneField(
        "stations.ChargingSession",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="charge",
        verbose_name=_("charging session"),
    )
    booking = models.OneToOneField(
        "stations.Booking",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="charge",
        verbose_name=_("booking (no-show fee)"),
    )
    account = models.ForeignKey(
        BillingAccount,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="session_charges",
        verbose_name=_("account"),
    )
    method = models.CharField(_("paid by"), max_length=16, choices=Method.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    tariff = models.ForeignKey(
        Tariff,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="session_charges",
        verbose_name=_("tariff"),
    )
    tariff_name = models.CharField(_("tariff name"), max_length=100, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="SEK")
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=0)
    net = models.DecimalField(_("net"), max_digits=14, decimal_places=2, default=0)
    vat = models.DecimalField(_("VAT"), max_digits=14, decimal_places=2, default=0)
    gross = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    energy_kwh = models.DecimalField(_("kWh"), max_digits=12, decimal_places=3, default=0)
    charging_minutes = models.DecimalField(
        _("charging (min)"), max_digits=12, decimal_places=3, default=0
    )
    idle_minutes = models.DecimalField(_("idle (min)"), max_digits=12, decimal_places=3, default=0)
    lines = models.JSONField(_("priced lines"), default=list, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(_("failed payment attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next payment attempt"), null=True, blank=True)
    last_error = models.CharField(_("last payment error"), max_length=255, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=255, blank=True)
    document = models.ForeignKey(
        Invoice,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="session_charges",
        verbose_name=_("receipt or invoice"),
    )
    priced_at = models.DateTimeField(_("priced at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("session charge")
        verbose_name_plural = _("session charges")
        ordering = ["-priced_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["account", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(session__isnull=False, booking__isnull=True)
                | Q(session__isnull=True, booking__isnull=False),
                name="charge_of_a_session_or_a_booking",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.gross} {self.currency} ({self.get_status_display()})"

    @property
    def owner(self) -> str:
        """What is charged, as staff and the payer read it: "session 42", "booking 7"."""
        if self.booking_id is not None:
            return _("booking %(number)s") % {"number": self.booking_id}
        return _("session %(number)s") % {"number": self.session_id}

    @property
    def where_and_when(self) -> "tuple[ChargePoint, Connector, datetime, datetime | None]":
        """The charge point, connector, start and end of what is charged: its session's,
        or its booking's slot for a no-show fee (invoice lines, card statements)."""
        if self.booking_id is not None:
            booking = self.booking
            connector = booking.connector
            return connector.charge_point, connector, booking.starts_at, booking.ends_at
        session = self.session
        return session.charge_point, session.connector, session.started_at, session.stopped_at

    @property
    def reference(self) -> str:
        """The key of this charge's money movements (a wallet debit's reference, a card
        attempt's idempotency key): "session:42", "booking:7"."""
        if self.booking_id is not None:
            return f"booking:{self.booking_id}"
        return f"session:{self.session_id}"


# --- Spot prices (billing/spot_prices.py) ---


class SpotPrice(models.Model):
    """The wholesale price of electricity in one hour (e.g. the day-ahead market), excl.
    VAT: what the operator pays. Among hours that cost the driver the same, cheap-hour
    charging prefers those where it is low (charging/cheap_hours.py)."""

    starts_at = models.DateTimeField(_("hour starting"), unique=True)
    price_per_kwh = models.DecimalField(
        _("price per kWh, excl. VAT"),
        max_digits=10,
        decimal_places=4,
        help_text=_("May be negative."),
    )
    source = models.CharField(_("source"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("spot price")
        verbose_name_plural = _("spot prices")
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M} {self.price_per_kwh}"

    def clean(self) -> None:
        if self.starts_at and (
            self.starts_at.minute or self.starts_at.second or self.starts_at.microsecond
        ):
            raise ValidationError({"starts_at": _("A spot price is for a whole hour.")})


# --- Ad hoc payment by a guest at the charger (billing/guest.py) ---


class GuestPayment(models.Model):
    """A guest who scanned a charger's QR code and pays by card, without an account.

    The card is pre-authorised for `amount_authorised` (a PaymentIntent with manual
    capture); the connector is started with a one-off id tag; when the session ends the
    actual price is captured and the rest released, and a receipt is issued.
    """

    class Status(models.TextChoices):
        CREATED = "created", _("Waiting for the card")
        AUTHORISED = "authorised", _("Card authorised")
        STARTED = "started", _("Charging")
        CAPTURED = "captured", _("Paid")
        RELEASED = "released", _("Released, nothing charged")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(_("public id"), default=uuid4, unique=True, editable=False)
    connector = models.ForeignKey(
        "stations.Connector",
        models.PROTECT,
        related_name="guest_payments",
        verbose_name=_("connector"),
    )
    email = models.EmailField(_("email for the receipt"), blank=True)
    language = models.CharField(_("language"), max_length=8, default="sv")
    id_tag = models.CharField(_("id tag"), max_length=20, unique=True)
    amount_authorised = models.DecimalField(_("amount authorised"), max_digits=12, decimal_places=2)
    amount_captured = models.DecimalField(
        _("amount captured"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    payment_intent_id = models.CharField(_("Stripe PaymentIntent"), max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.CREATED
    )
    error = models.CharField(_("error"), max_length=255, blank=True)
    session = models.OneToOneField(
        "stations.ChargingSession",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="guest_payment",
        verbose_name=_("charging session"),
    )
    receipt = models.ForeignKey(
        Invoice,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("receipt"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("guest payment")
        verbose_name_plural = _("guest payments")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.id_tag} {self.get_status_display()}"


# --- Subscriptions (billing/subscriptions.py) ---


def default_plan_vat_rate() -> Decimal:
    """VAT on a new plan's monthly fee (BILLING_DEFAULT_VAT_RATE, 25 % in Sweden)."""
    return settings.BILLING_DEFAULT_VAT_RATE


class SubscriptionPlan(models.Model):
    """A monthly plan sold through Stripe (a Price or Plan there, mirrored by dj-stripe).

    While a driver's subscription is active they are a member of `customer_group`, so
    the tariffs assigned to that group apply to them (a discounted tariff, or a zero
    tariff for flat unlimited charging); `included_kwh` a month are free on top.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    customer_group = models.OneToOneField(
        CustomerGroup,
        models.PROTECT,
        related_name="plan",
        verbose_name=_("customer group"),
        limit_choices_to={"kind": CustomerGroup.Kind.PLAN},
    )
    monthly_fee = models.DecimalField(
        _("monthly fee, excl. VAT"), max_digits=10, decimal_places=2, validators=NON_NEGATIVE
    )
    included_kwh = models.DecimalField(
        _("kWh included per month"),
        max_digits=10,
        decimal_places=3,
        default=Decimal(0),
        validators=NON_NEGATIVE,
    )
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=default_plan_vat_rate,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Added to the monthly fee: Stripe charges the fee incl. VAT."),
    )
    stripe_price_id = models.CharField(
        _("Stripe price"),
        max_length=255,
        blank=True,
        help_text=_("Set when the plan is created at Stripe (billing/subscriptions.py)."),
    )
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("subscription plan")
        verbose_name_plural = _("subscription plans")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlanSubscription(models.Model):
    """A driver's subscription to a plan, as Stripe last reported it (webhooks)."""

    ACTIVE_STATUSES = ("active", "trialing", "past_due")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        related_name="plan_subscriptions",
        verbose_name=_("driver"),
    )
    plan = models.ForeignKey(
        SubscriptionPlan, models.PROTECT, related_name="subscriptions", verbose_name=_("plan")
    )
    stripe_subscription_id = models.CharField(_("Stripe subscription"), max_length=255, unique=True)
    status = models.CharField(_("status at Stripe"), max_length=32)
    current_period_start = models.DateTimeField(_("period start"), null=True, blank=True)
    current_period_end = models.DateTimeField(_("period end"), null=True, blank=True)
    cancel_at_period_end = models.BooleanField(
        _("ends with the current period"),
        default=False,
        help_text=_("Cancelled by the driver; the plan applies until the period ends."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("plan subscription")
        verbose_name_plural = _("plan subscriptions")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} → {self.plan} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


# --- How a driver pays for one session they start (billing/payment_choice.py) ---


class PaymentChoice(models.Model):
    """How a driver chose to pay for the session they started from the portal or the API.

    Recorded before the charger is asked to start; the session the charger then opens
    for this driver on this connector claims it (`session` is set once, when the session
    is priced). A choice no session claims (the charger said no, the driver never
    plugged in) simply stays unclaimed.
    """

    # How long before the charger reports the session a choice still counts: a remote
    # start is answered at once, but the driver may then walk to the car and plug in, and
    # the charger sends StartTransaction only once the car draws power (it gives up on a
    # remote start it was not plugged in for after its ConnectionTimeOut, typically 1-5
    # minutes). A quarter of an hour covers a slow driver without letting a choice linger
    # into the next, unrelated session on the same connector.
    CLAIM_WINDOW = timedelta(minutes=15)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="payment_choices",
        verbose_name=_("driver"),
    )
    connector = models.ForeignKey(
        "stations.Connector",
        models.CASCADE,
        related_name="payment_choices",
        verbose_name=_("connector"),
    )
    method = models.CharField(
        _("payment method"), max_length=16, choices=BillingAccount.PaymentMethod.choices
    )
    chosen_at = models.DateTimeField(_("chosen at"), default=timezone.now)
    session = models.OneToOneField(
        "stations.ChargingSession",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="payment_choice",
        verbose_name=_("charging session"),
    )

    class Meta:
        verbose_name = _("payment choice")
        verbose_name_plural = _("payment choices")
        ordering = ["-chosen_at", "-id"]
        indexes = [models.Index(fields=["user", "connector", "chosen_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.get_method_display()} ({self.chosen_at:%Y-%m-%d %H:%M})"
