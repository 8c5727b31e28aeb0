"""The back office for tariffs: prices, where they apply and to whom, and which one wins.

The selection rule lives in billing/tariffs.py; the "effective tariff" page only asks it
and shows every candidate in the order the rule ranks them.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import tariffs
from billing.models import CustomerGroup, Tariff, TariffAssignment, TimeOfUsePeriod
from stations.models import Connector
from users.models import User

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


class TimeOfUsePeriodInline(admin.TabularInline):
    model = TimeOfUsePeriod
    form = TimeOfUsePeriodForm
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


class TariffAssignmentInline(admin.TabularInline):
    model = TariffAssignment
    extra = 0
    fields = ["site", "charge_point", "connector", "customer_group", "valid_from", "valid_until"]
    autocomplete_fields = ["site", "charge_point"]
    raw_id_fields = ["connector"]


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "currency",
        "price_per_kwh",
        "price_per_minute",
        "session_fee",
        "idle_fee_per_minute",
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
                ]
            },
        ),
        (_("Validity"), {"fields": [("valid_from", "valid_until")]}),
    ]

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

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerGroup]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, group: CustomerGroup) -> int:
        return group.member_total  # type: ignore[attr-defined]
