"""The back office for tariffs: prices, where they apply and to whom, and which one wins.

The selection rule lives in billing/tariffs.py; the "effective tariff" page only asks it
and shows every candidate in the order the rule ranks them.
"""

from decimal import Decimal
from typing import Any

import stripe
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from billing import (
    documents,
    guest,
    invoicing,
    money,
    payments,
    refunds,
    session_figures,
    settlement,
    subscriptions,
    tariffs,
    tasks,
    wallet,
)
from billing.models import (
    BillingAccount,
    CardPayment,
    CustomerGroup,
    GuestPayment,
    Invoice,
    InvoiceLine,
    PaymentChoice,
    PlanSubscription,
    SessionCharge,
    SpotPrice,
    SubscriptionPlan,
    Tariff,
    TariffAssignment,
    TimeOfUsePeriod,
    WalletEntry,
)
from chargehub.admin_csv import export_csv
from chargehub.admin_fields import (
    LOCAL_TIME_INPUT,
    LabelledTabularInline,
    LiveFigures,
    ReadOnlyAdmin,
    ReadOnlyInline,
)
from stations import admin as stations_admin
from stations.models import ChargingSession, Connector
from users.models import IdToken, User

WEEKDAYS = [
    ("1", _("Mon")),
    ("2", _("Tue")),
    ("3", _("Wed")),
    ("4", _("Thu")),
    ("5", _("Fri")),
    ("6", _("Sat")),
    ("7", _("Sun")),
]


class WeekdaysField(forms.MultipleChoiceField):
    """Weekday checkboxes stored as ISO digits, "12345" for Monday to Friday."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("max_length", None)
        kwargs.pop("empty_value", None)
        super().__init__(choices=WEEKDAYS, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return list(value) if isinstance(value, str) else value

    def clean(self, value: Any) -> str:
        return "".join(sorted(super().clean(value)))


class TimeOfUsePeriodForm(forms.ModelForm):
    weekdays = WeekdaysField(label=_("weekdays"))

    class Meta:
        model = TimeOfUsePeriod
        fields = [
            "position",
            "name",
            "weekdays",
            "start_time",
            "end_time",
            "price_per_kwh",
            "price_per_minute",
        ]


class TimeOfUsePeriodInline(LabelledTabularInline):
    model = TimeOfUsePeriod
    form = TimeOfUsePeriodForm
    formfield_overrides = LOCAL_TIME_INPUT
    extra = 0
    fields = [
        "position",
        "name",
        "weekdays",
        "start_time",
        "end_time",
        "price_per_kwh",
        "price_per_minute",
    ]
    verbose_name_plural = _(
        "time-of-use periods (site's local time; a period belongs to the day it starts on, "
        "an end at or before the start runs past midnight; where periods overlap the first "
        "by position wins)"
    )


class TariffAssignmentInline(LabelledTabularInline):
    model = TariffAssignment
    extra = 0
    fields = ["site", "charge_point", "connector", "customer_group", "valid_from", "valid_until"]
    # Look-up by id rather than select2's search box, which has no accessible name.
    raw_id_fields = ["site", "charge_point", "connector"]


def unit_price_column(field: str, description: Any) -> Any:
    """A list column showing a price as drivers read it: 3,00, or 0,3125 when it has more."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: admin.ModelAdmin, obj: Any) -> str:
        return money.format_amount(getattr(obj, field), unit_price=True)

    return column


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "currency",
        "kwh_price",
        "minute_price",
        "fee",
        "idle_fee",
        "vat_rate",
        "valid_from",
        "valid_until",
        "period_count",
    ]
    search_fields = ["name"]
    list_filter = ["currency"]
    inlines = [TimeOfUsePeriodInline, TariffAssignmentInline]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "currency", "vat_rate"],
                "description": _(
                    "All prices exclude VAT; drivers see them with VAT added. To change "
                    "prices, add a tariff valid from the moment of the change: a session "
                    "keeps the tariff in force when it started."
                ),
            },
        ),
        (
            _("Prices, excl. VAT"),
            {
                "fields": [
                    "price_per_kwh",
                    "price_per_minute",
                    "session_fee",
                    ("idle_fee_per_minute", "idle_grace_minutes"),
                    ("min_price", "max_price"),
                    "no_show_fee",
                ]
            },
        ),
        (_("Validity"), {"fields": [("valid_from", "valid_until")]}),
    ]

    kwh_price = unit_price_column("price_per_kwh", _("price per kWh"))
    minute_price = unit_price_column("price_per_minute", _("price per minute"))
    fee = unit_price_column("session_fee", _("session fee"))
    idle_fee = unit_price_column("idle_fee_per_minute", _("idle fee per minute"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tariff]:
        return super().get_queryset(request).annotate(periods=Count("time_of_use"))

    @admin.display(description=_("time-of-use periods"), ordering="periods")
    def period_count(self, tariff: Tariff) -> int:
        return tariff.periods  # type: ignore[attr-defined]


class EffectiveTariffForm(forms.Form):
    connector = forms.ModelChoiceField(
        Connector.objects.select_related("charge_point"), label=_("connector")
    )
    driver = forms.ModelChoiceField(
        User.objects.order_by("email"),
        required=False,
        label=_("driver"),
        help_text=_("Empty: a driver in no customer group."),
    )
    at = forms.DateTimeField(label=_("session starting at"), required=False)


@admin.register(SpotPrice)
class SpotPriceAdmin(admin.ModelAdmin):
    # Entered by staff, or fetched hourly from SPOT_PRICE_URL (billing/spot_prices.py).
    list_display = ["starts_at", "price_per_kwh", "source"]
    date_hierarchy = "starts_at"
    search_fields = ["source"]


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(admin.ModelAdmin):
    list_display = [
        "tariff",
        "level_display",
        "place_display",
        "customer_group",
        "valid_from",
        "valid_until",
    ]
    list_filter = ["customer_group", "tariff"]
    search_fields = [
        "tariff__name",
        "site__name",
        "charge_point__charge_point_id",
        "connector__charge_point__charge_point_id",
        "customer_group__name",
    ]
    autocomplete_fields = ["tariff", "site", "charge_point", "customer_group"]
    raw_id_fields = ["connector"]
    change_list_template = "admin/billing/tariffassignment_change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": ["tariff", "customer_group", ("valid_from", "valid_until")],
                "description": _(
                    "Which tariff applies wins by this rule: an assignment for a customer "
                    "group of the driver beats one for everyone; then connector beats "
                    "charge point beats site; then the one that became valid last."
                ),
            },
        ),
        (_("Where (exactly one)"), {"fields": ["site", "charge_point", "connector"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TariffAssignment]:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "tariff", "site", "charge_point", "connector__charge_point", "customer_group"
            )
        )

    @admin.display(description=_("level"))
    def level_display(self, assignment: TariffAssignment) -> str:
        return assignment.get_level_display()

    @admin.display(description=_("applies to"))
    def place_display(self, assignment: TariffAssignment) -> str:
        return str(assignment.place)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "effective/",
                self.admin_site.admin_view(self.effective_tariff_view),
                name="billing_tariffassignment_effective",
            )
        ]
        return own + super().get_urls()

    def effective_tariff_view(self, request: HttpRequest) -> HttpResponse:
        """Which tariff a driver gets at a connector, and every candidate that lost."""
        form = EffectiveTariffForm(request.GET or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("Effective tariff"),
            "opts": self.model._meta,
            "form": form,
        }
        if form.is_valid():
            connector = form.cleaned_data["connector"]
            driver = form.cleaned_data["driver"]
            at = form.cleaned_data["at"] or timezone.now()
            candidates = tariffs.candidate_assignments(connector, driver, at)
            context.update(
                at=at,
                candidates=candidates,
                explanation=tariffs.explain(candidates[0]) if candidates else "",
                preview=tariffs.price_preview(connector, driver, at),
            )
        return TemplateResponse(request, "admin/billing/effective_tariff.html", context)


@admin.register(CustomerGroup)
class CustomerGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "member_count"]
    list_filter = ["kind"]
    search_fields = ["name"]
    autocomplete_fields = ["members"]
    # A business customer is a fleet group: its drivers, their cards, one account that
    # pays for all of them (billing/accounts.py payer_for).
    readonly_fields = ["billing_account_link", "member_cards"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerGroup]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description=_("billing account"))
    def billing_account_link(self, group: CustomerGroup) -> str:
        account = BillingAccount.objects.filter(fleet=group.pk).first() if group.pk else None
        if account is not None:
            return format_html(
                '<a href="{}">{}</a> ({})',
                reverse("admin:billing_billingaccount_change", args=[account.pk]),
                account.display_name,
                account.get_payment_method_display(),
            )
        if group.pk and group.kind == CustomerGroup.Kind.FLEET:
            return format_html(
                '<a href="{}?fleet={}">{}</a>',
                reverse("admin:billing_billingaccount_add"),
                group.pk,
                _("Add the account that pays for this fleet"),
            )
        return "-"

    @admin.display(description=_("members' RFID cards and tokens"))
    def member_cards(self, group: CustomerGroup) -> str:
        if group.pk is None:
            return "-"
        tokens = (
            IdToken.objects.filter(owner__customer_groups=group)
            .select_related("owner")
            .order_by("owner__email", "uid")
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:users_idtoken_change", args=[token.pk]),
                    token.uid,
                    token.name,
                    token.get_type_display(),
                    token.get_status_display(),
                    token.owner.email,
                )
                for token in tokens
            ),
        )
        if not rows:
            return _("None: the members have no tokens.")
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            _("id tag"),
            _("name"),
            _("type"),
            _("status"),
            _("owner"),
            rows,
        )

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, group: CustomerGroup) -> int:
        return group.member_total  # type: ignore[attr-defined]


# --- Who pays, what sessions cost, wallets (accounts.py, settlement.py, wallet.py) ---


def may_issue_documents(request: HttpRequest) -> bool:
    """Whether staff may issue a document (an invoice now, a credit note, a refund's):
    the add permission of invoices (users/roles.py)."""
    return request.user.has_perm("billing.add_invoice")


def email_and_report(
    model_admin: admin.ModelAdmin, request: HttpRequest, invoices: QuerySet[Invoice]
) -> None:
    """Email documents to their buyers and tell staff what was sent and what was not."""
    sent, without_address, failed = 0, [], []
    for invoice in invoices:
        try:
            if documents.email_document(invoice):
                sent += 1
            else:
                without_address.append(invoice.display_number)
        except OSError as error:  # the mail server refused or is unreachable
            failed.append(f"{invoice.display_number} ({error})")
    model_admin.message_user(request, _("%(count)d document(s) emailed.") % {"count": sent})
    if without_address:
        model_admin.message_user(
            request,
            _("No email address: %(numbers)s") % {"numbers": ", ".join(without_address)},
            messages.WARNING,
        )
    if failed:
        model_admin.message_user(
            request,
            _("Not sent: %(numbers)s") % {"numbers": ", ".join(failed)},
            messages.ERROR,
        )


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "fleet", "payment_method", "wallet", "failures"]
    list_filter = ["payment_method"]
    search_fields = ["name", "email", "user__email", "fleet__name", "org_number"]
    autocomplete_fields = ["user", "fleet"]
    list_select_related = ["user", "fleet"]

    @admin.display(description=_("wallet (SEK)"))
    def wallet(self, account: BillingAccount) -> Any:
        return wallet.wallet_balance(account.user) if account.user_id else "-"

    @admin.display(description=_("failed card payments"))
    def failures(self, account: BillingAccount) -> int:
        return account.session_charges.filter(status=SessionCharge.Status.FAILED).count()

    actions = ["issue_invoice_now"]

    def has_issue_invoice_permission(self, request: HttpRequest) -> bool:
        return may_issue_documents(request)

    @admin.action(description=_("Issue this month's invoice now"), permissions=["issue_invoice"])
    def issue_invoice_now(self, request: HttpRequest, queryset: QuerySet[BillingAccount]) -> None:
        for account in queryset:
            try:
                invoice, issued = invoicing.issue_invoice_now(account)
            except invoicing.InvoicingError as error:
                self.message_user(request, f"{account}: {error}", messages.ERROR)
                continue
            if invoice is None:
                self.message_user(
                    request, _("%(account)s: nothing to invoice.") % {"account": account}
                )
            elif not issued:
                self.message_user(
                    request,
                    _("%(account)s: this month's invoice %(number)s was already issued.")
                    % {"account": account, "number": invoice.display_number},
                    messages.WARNING,
                )
            else:
                # Then as the monthly run does: paid by card where the account asks for it.
                invoicing.charge_invoice_to_card(invoice)
                self.message_user(
                    request,
                    _("%(account)s: invoice %(number)s issued.")
                    % {"account": account, "number": invoice.display_number},
                )
                email_and_report(self, request, Invoice.objects.filter(pk=invoice.pk))


@admin.register(SessionCharge)
class SessionChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "session",
        "booking",
        "priced_at",
        "account",
        "method",
        "status",
        "gross",
        "currency",
        "failed_attempts",
        "next_attempt_at",
        "document",
    ]
    list_filter = ["status", "method"]
    search_fields = [
        "session__id_tag",
        "session__charge_point__charge_point_id",
        "booking__connector__charge_point__charge_point_id",
        "account__name",
        "account__user__email",
        "payment_reference",
    ]
    list_select_related = [
        "session__charge_point",
        "booking__connector__charge_point",
        "account__user",
        "account__fleet",
        "document",
    ]
    date_hierarchy = "priced_at"
    actions = ["retry_payment", export_csv]

    @admin.action(description=_("Charge the card again now"))
    def retry_payment(self, request: HttpRequest, queryset: QuerySet[SessionCharge]) -> None:
        failed = queryset.filter(
            status=SessionCharge.Status.FAILED, method=SessionCharge.Method.CARD
        )
        paid = 0
        for charge in failed:
            if settlement.collect(charge).status == SessionCharge.Status.PAID:
                paid += 1
        self.message_user(
            request,
            _("%(paid)d of %(tried)d failed payments are now paid.")
            % {"paid": paid, "tried": len(failed)},
            messages.SUCCESS if paid == len(failed) else messages.WARNING,
        )


class ManualCreditForm(forms.Form):
    driver = forms.ModelChoiceField(User.objects.order_by("email"), label=_("driver"))
    amount = forms.DecimalField(
        label=_("amount (SEK)"), min_value=Decimal("0.01"), max_digits=12, decimal_places=2
    )
    reason = forms.CharField(
        label=_("reason"), help_text=_("Cash at the desk, bank transfer, goodwill …")
    )
    reference = forms.CharField(
        label=_("reference"),
        required=False,
        help_text=_("The bank transfer's reference: crediting the same one twice is refused."),
    )


@admin.register(WalletEntry)
class WalletEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "amount", "reference", "created_by", "note"]
    list_filter = ["kind"]
    search_fields = ["user__email", "reference", "note"]
    list_select_related = ["user", "created_by"]
    date_hierarchy = "created_at"
    change_list_template = "admin/billing/walletentry_change_list.html"
    actions = [export_csv]

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "credit/",
                self.admin_site.admin_view(self.manual_credit_view),
                name="billing_walletentry_credit",
            )
        ]
        return own + super().get_urls()

    def manual_credit_view(self, request: HttpRequest) -> HttpResponse:
        """Staff put money in a wallet (cash, bank transfer); the entry is the audit."""
        if not request.user.has_perm("billing.add_walletentry"):
            raise PermissionDenied
        form = ManualCreditForm(request.POST or None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = wallet.credit_wallet_manually(
                    data["driver"],
                    data["amount"],
                    staff=request.user,
                    reason=data["reason"],
                    reference=data["reference"],
                )
            except wallet.WalletError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request,
                    _("%(amount)s SEK credited to %(driver)s.")
                    % {"amount": entry.amount, "driver": entry.user},
                )
                return HttpResponseRedirect(reverse("admin:billing_walletentry_changelist"))
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("Credit a wallet"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/manual_credit.html", context)


@admin.register(CardPayment)
class CardPaymentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "purpose", "amount", "status", "payment_intent_id"]
    list_filter = ["purpose", "status"]
    search_fields = ["user__email", "payment_intent_id", "idempotency_key", "description"]
    list_select_related = ["user"]


# --- Guest payment at the charger (billing/guest.py) ---


@admin.register(GuestPayment)
class GuestPaymentAdmin(ReadOnlyAdmin):
    """Guests who paid by card at a charger: what was held, captured, and why not."""

    list_display = [
        "created_at",
        "id_tag",
        "connector",
        "status",
        "amount_authorised",
        "amount_captured",
        "email",
        "session",
        "receipt",
        "error",
    ]
    list_filter = ["status"]
    search_fields = [
        "id_tag",
        "email",
        "payment_intent_id",
        "connector__charge_point__charge_point_id",
    ]
    list_select_related = ["connector__charge_point", "session", "receipt"]
    date_hierarchy = "created_at"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "qr-codes/",
                self.admin_site.admin_view(self.qr_codes_view),
                name="billing_guestpayment_qr_codes",
            )
        ]
        return own + super().get_urls()

    def qr_codes_view(self, request: HttpRequest) -> HttpResponse:
        """A printable QR code for each connector of the charge points asked for
        (?charge_point=<pk>, repeated); linked from the charge point admin."""
        if not request.user.has_perm("stations.view_chargepoint"):
            raise PermissionDenied
        chosen = [pk for pk in request.GET.getlist("charge_point") if pk.isdigit()]
        connectors = (
            Connector.objects.filter(charge_point__in=chosen)
            .exclude(connector_id=0)  # the charger as a whole: nothing to plug in
            .select_related("charge_point")
            .order_by("charge_point__charge_point_id", "connector_id")
        )
        codes = []
        for connector in connectors:
            url = guest.guest_url(connector)
            codes.append({"connector": connector, "url": url, "svg": guest.qr_code_svg(url)})
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("Guest QR codes"),
            "opts": self.model._meta,
            "codes": codes,
            "public_url": guest.public_base_url(),
        }
        return TemplateResponse(request, "billing/guest/admin_qr_codes.html", context)


# --- Invoices, receipts and credit notes (billing/invoicing.py) ---


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = [
        "position",
        "description",
        "site",
        "charge_point",
        "connector",
        "started_at",
        "ended_at",
        "energy_kwh",
        "duration_minutes",
        "vat_rate",
        "net",
        "vat",
        "gross",
    ]
    readonly_fields = fields


class CreditNoteForm(forms.Form):
    gross = forms.DecimalField(
        label=_("amount to credit, incl. VAT"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Empty: everything not credited yet."),
    )
    reason = forms.CharField(
        label=_("reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Printed on the credit note."),
    )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    """Issued documents are never edited: staff look, download, email them again and
    credit them (a credit note is a new document)."""

    list_display = [
        "display_number",
        "kind",
        "issued_at",
        "buyer_name",
        "gross",
        "currency",
        "paid_at",
        "emailed_at",
        "pdf_link",
    ]
    list_filter = ["kind", "series", "language"]
    search_fields = ["buyer_name", "buyer_email", "buyer_org_number", "payment_reference"]
    date_hierarchy = "issued_at"
    inlines = [InvoiceLineInline]
    actions = ["email_again", "pay_back_credit_notes", export_csv]
    change_form_template = "billing/admin/invoice_change_form.html"
    readonly_fields = ["pdf_link", "seller_display", "vat_breakdown_display", "credit_notes"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("kind", "series", "number"),
                    ("issued_at", "issued_by"),
                    ("language", "currency"),
                    "pdf_link",
                    "corrects",
                    "credit_notes",
                    "note",
                ]
            },
        ),
        (
            _("Buyer"),
            {
                "fields": [
                    "account",
                    "buyer_name",
                    "buyer_email",
                    "buyer_address",
                    ("buyer_org_number", "buyer_vat_number"),
                ]
            },
        ),
        (_("Seller"), {"fields": ["seller_display"]}),
        (
            _("Amounts"),
            {
                "fields": [
                    ("net", "vat", "gross"),
                    "vat_breakdown_display",
                    ("period_start", "period_end", "due_at"),
                ]
            },
        ),
        (
            _("Afterwards"),
            {"fields": [("paid_at", "payment_reference"), "emailed_at", "refund_reference"]},
        ),
    ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Invoice], search_term: str
    ) -> tuple[QuerySet[Invoice], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # A number as printed, "F-000012", finds that document.
        series, dash, number = search_term.strip().upper().rpartition("-")
        if dash and series and number.isdigit():
            found |= queryset.filter(series=series, number=int(number))
        return found, may_have_duplicates

    @admin.display(description=_("PDF"))
    def pdf_link(self, invoice: Invoice) -> str:
        url = reverse("billing:invoice-pdf", args=[invoice.pk])
        return format_html('<a href="{}">{}.pdf</a>', url, invoice.display_number)

    @admin.display(description=_("seller"))
    def seller_display(self, invoice: Invoice) -> str:
        return format_html_join(
            "",
            "<div>{}</div>",
            ((value,) for value in invoice.seller.values() if value),
        )

    @admin.display(description=_("VAT per rate"))
    def vat_breakdown_display(self, invoice: Invoice) -> str:
        return format_html_join(
            "",
            "<div>{} %: {} + {} = {} {}</div>",
            (
                (row.rate, row.net, row.vat, row.gross, invoice.currency)
                for row in documents.vat_breakdown(invoice)
            ),
        )

    @admin.display(description=_("credit notes"))
    def credit_notes(self, invoice: Invoice) -> str:
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({})',
            (
                (
                    reverse("admin:billing_invoice_change", args=[note.pk]),
                    note.display_number,
                    note.gross,
                )
                for note in invoice.credit_notes.order_by("number")
            ),
        )

    @admin.action(description=_("Email again to the customer"), permissions=["view"])
    def email_again(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        email_and_report(self, request, queryset)

    def pay_back(self, request: HttpRequest, note: Invoice) -> None:
        """Return a credit note's money and tell staff how it went."""
        try:
            note = refunds.pay_back(note)
        except refunds.RefundError as error:
            self.message_user(request, str(error), messages.WARNING)
            return
        if note.refund_reference:
            self.message_user(
                request,
                _("%(amount)s %(currency)s paid back (%(reference)s).")
                % {
                    "amount": -note.gross,
                    "currency": note.currency,
                    "reference": note.refund_reference,
                },
            )
        else:
            self.message_user(
                request, _("The credited document was not paid: nothing to pay back.")
            )

    @admin.action(description=_("Pay back credit notes not yet paid back"))
    def pay_back_credit_notes(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        if not self.may_credit(request):
            raise PermissionDenied
        for note in queryset.filter(kind=Invoice.Kind.CREDIT_NOTE, refund_reference=""):
            self.pay_back(request, note)

    def may_credit(self, request: HttpRequest) -> bool:
        return may_issue_documents(request)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "may_credit": self.may_credit(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:object_id>/credit/",
                self.admin_site.admin_view(self.credit_view),
                name="billing_invoice_credit",
            )
        ]
        return own + super().get_urls()

    def credit_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Credit an invoice or receipt: an amount (empty: all that is left) and a
        reason. The credit note is issued, then the money goes back the way it was paid
        (billing/refunds.py); what cannot go back by itself is said."""
        if not self.may_credit(request):
            raise PermissionDenied
        invoice = self.get_object(request, str(object_id))
        if invoice is None:
            raise Http404
        form = CreditNoteForm(request.POST or None)
        if invoice.kind == Invoice.Kind.CREDIT_NOTE:
            form = None
        elif form.is_valid():
            try:
                note = invoicing.issue_credit_note(
                    invoice,
                    gross=form.cleaned_data["gross"],
                    reason=form.cleaned_data["reason"],
                    issued_by=request.user,
                )
            except invoicing.InvoicingError as error:
                form.add_error(None, str(error))
            else:
                self.log_addition(request, note, f"Credits {invoice.display_number}")
                transaction.on_commit(lambda: tasks.email_document.delay(note.pk))
                self.message_user(
                    request,
                    _("%(note)s issued: %(gross)s %(currency)s.")
                    % {"note": note.display_number, "gross": note.gross, "currency": note.currency},
                )
                self.pay_back(request, note)
                return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[note.pk]))
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": _("Credit %(number)s") % {"number": invoice.display_number},
            "opts": self.model._meta,
            "original": invoice,
            "left": invoicing.uncredited_gross(invoice),
            "form": form,
        }
        return TemplateResponse(request, "billing/admin/invoice_credit.html", context)


# --- Subscription plans (billing/subscriptions.py) ---


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "customer_group",
        "monthly_fee",
        "vat_rate",
        "included_kwh",
        "is_active",
        "stripe_price_id",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "stripe_price_id"]
    autocomplete_fields = ["customer_group"]
    list_select_related = ["customer_group"]
    actions = ["publish"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "customer_group",
                    ("monthly_fee", "vat_rate"),
                    "included_kwh",
                    "is_active",
                    "stripe_price_id",
                ],
                "description": _(
                    "The monthly fee excludes VAT; Stripe charges it with VAT added. The "
                    "tariffs assigned to the plan's customer group apply to subscribers, "
                    "and the included kWh are free every month. Once published to Stripe "
                    "the fee is fixed: for another fee, make a new plan."
                ),
            },
        )
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.stripe_price_id:
            # Stripe keeps charging the published price whatever the form says.
            return ["monthly_fee", "vat_rate", "stripe_price_id"]
        return ["stripe_price_id"]

    @admin.action(description=_("Publish to Stripe"))
    def publish(self, request: HttpRequest, queryset: QuerySet[SubscriptionPlan]) -> None:
        for plan in queryset:
            try:
                price_id = subscriptions.publish_plan(plan)
            except (
                payments.PaymentError,
                payments.PaymentsNotConfigured,
                stripe.StripeError,
            ) as error:
                self.message_user(request, f"{plan}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(plan)s is at Stripe as %(price)s.") % {"plan": plan, "price": price_id},
                )


@admin.register(PlanSubscription)
class PlanSubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "plan",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "stripe_subscription_id",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["user__email", "stripe_subscription_id", "plan__name"]
    list_select_related = ["user", "plan"]


@admin.register(PaymentChoice)
class PaymentChoiceAdmin(ReadOnlyAdmin):
    """How drivers chose to pay when starting; a session claims its choice when priced."""

    list_display = ["chosen_at", "user", "connector", "method", "session"]
    list_filter = ["method"]
    search_fields = ["user__email", "connector__charge_point__charge_point_id"]
    list_select_related = ["user", "connector__charge_point", "session__connector__charge_point"]
    date_hierarchy = "chosen_at"


# --- The staff session page: the money and the figures so far ------------------------------

# stations' session page knows nothing of money; billing adds the cost so far, the charge
# and the receipt, and the chart (billing reads the meter the way it prices it).
admin.site.unregister(ChargingSession)


@admin.register(ChargingSession)
class ChargingSessionAdmin(LiveFigures, stations_admin.ChargingSessionAdmin):
    change_form_template = "admin/stations/chargingsession/change_form.html"
    fieldsets = [
        *stations_admin.ChargingSessionAdmin.fieldsets,
        (_("So far"), {"fields": ["figures", "money"]}),
    ]
    readonly_fields = [*stations_admin.ChargingSessionAdmin.readonly_fields, "figures", "money"]

    # The figures of the page, for its script to refresh while the session runs.
    live_path = "figures"

    def live_figures(self, session: ChargingSession) -> dict[str, Any]:
        return session_figures.staff_figures(session)

    def _figures(self, session: ChargingSession) -> dict[str, Any]:
        # Two fields show them: read the meter once per page.
        if not hasattr(session, "staff_figures"):
            session.staff_figures = session_figures.staff_figures(session)  # type: ignore[attr-defined]
        return session.staff_figures  # type: ignore[attr-defined]

    @admin.display(description=_("energy, power"))
    def figures(self, session: ChargingSession) -> str:
        shown = self._figures(session)
        return format_html(
            '<span data-figure="energy">{}</span> kWh · <span data-figure="power">{}</span> kW',
            shown["energy_kwh"],
            shown["power_kw"] or "-",
        )

    @admin.display(description=_("cost, charge, receipt"))
    def money(self, session: ChargingSession) -> str:
        shown = self._figures(session)
        cost = f"{shown['cost']} {shown['currency']}" if shown["cost"] else _("no tariff")
        charge = SessionCharge.objects.filter(session=session).select_related("document").first()
        links = []
        if charge is not None:
            links.append(
                format_html(
                    '<a href="{}">{}</a>',
                    reverse("admin:billing_sessioncharge_change", args=[charge.pk]),
                    _("charge: %(status)s") % {"status": charge.get_status_display()},
                )
            )
            if charge.document is not None:
                links.append(
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:billing_invoice_change", args=[charge.document.pk]),
                        charge.document.display_number,
                    )
                )
        return format_html(
            '<span data-figure="cost">{}</span>{}',
            cost,
            format_html_join("", " · {}", ((link,) for link in links)),
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ChargingSession | None = None,
    ) -> HttpResponse:
        # The session the page already read (change_view reading it again cost 6 queries).
        if obj is not None:
            context = {
                "chart": session_figures.chart(obj),
                "figures_url": reverse("admin:stations_chargingsession_figures", args=[obj.pk]),
                "running": obj.status == ChargingSession.Status.ACTIVE,
                **context,
            }
        return super().render_change_form(request, context, add, change, form_url, obj)
