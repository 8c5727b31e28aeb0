"""Billing: tariffs, where they apply and to whom; payments follow at the end of the file.

Tariff prices are NET, excluding VAT (moms); drivers are shown them incl. VAT as well
(billing/tariffs.py). The price of a session is computed in billing/pricing.py only.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.pricing import TariffTerms, TimeOfUse

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
