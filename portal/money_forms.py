"""Forms of the portal's money pages (portal/money.py); the rules are in billing."""

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from billing import payments
from billing.models import BillingAccount, SubscriptionPlan
from users import api_tokens

# Offered as one click each; any other amount from the Stripe minimum up is allowed.
TOPUP_PRESETS = (Decimal(100), Decimal(200), Decimal(500))
# A typing slip (an extra zero) should not become a large card payment.
TOPUP_MAXIMUM = Decimal(10_000)
OTHER = "other"


class PaymentMethodForm(forms.Form):
    payment_method = forms.ChoiceField(
        label=gettext_lazy("How do you pay for charging?"),
        choices=BillingAccount.PaymentMethod.choices,
        widget=forms.RadioSelect,
    )

    def __init__(
        self, *args: Any, has_card: bool, cards_offered: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # Known before the form is sent (Stripe is asked by the view, once).
        self.has_card = has_card
        # The operator decides which methods drivers may choose themselves (paying
        # afterwards by invoice is credit, which not every operator gives to anyone).
        offered = set(settings.BILLING_DRIVER_PAYMENT_METHODS)
        if not cards_offered:  # no Stripe: a card could never be saved
            offered.discard(BillingAccount.PaymentMethod.CARD)
        self.fields["payment_method"].choices = [
            (value, label)
            for value, label in BillingAccount.PaymentMethod.choices
            if value in offered
        ]

    def clean_payment_method(self) -> str:
        method = self.cleaned_data["payment_method"]
        if method == BillingAccount.PaymentMethod.CARD and not self.has_card:
            raise forms.ValidationError(
                _("Save a card first: charging is then paid with it."), code="no_card"
            )
        return method


class TopUpForm(forms.Form):
    amount = forms.ChoiceField(
        label=gettext_lazy("Amount"),
        widget=forms.RadioSelect,
        choices=[],  # set per request, in the driver's language (__init__)
        initial=str(TOPUP_PRESETS[1]),
    )
    other_amount = forms.DecimalField(
        label=gettext_lazy("Another amount (SEK)"),
        required=False,
        min_value=payments.MINIMUM_CHARGE,
        max_value=TOPUP_MAXIMUM,
        decimal_places=2,
    )
    # A new key with every page: the same form sent twice (a double click, a reload)
    # is one payment (billing.payments.top_up_wallet).
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Formatted here, not at import: a lazy string formatted with % is translated at
        # once, in whatever language is active then.
        self.fields["amount"].choices = [
            *[(str(preset), _("%(amount)s SEK") % {"amount": preset}) for preset in TOPUP_PRESETS],
            (OTHER, _("Another amount")),
        ]
        self.fields["other_amount"].help_text = _(
            "From %(minimum)s SEK, the least a card can be charged."
        ) % {"minimum": payments.MINIMUM_CHARGE}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        choice = data.get("amount")
        if choice == OTHER:
            if data.get("other_amount") is None and "other_amount" not in self.errors:
                self.add_error("other_amount", _("Enter the amount."))
            data["topup"] = data.get("other_amount")
        elif choice:
            data["topup"] = Decimal(choice)
        return data


class PlanForm(forms.Form):
    """The plan a driver subscribes or changes to: only plans on sale at Stripe."""

    plan = forms.ModelChoiceField(
        label=gettext_lazy("Plan"),
        queryset=SubscriptionPlan.objects.filter(is_active=True).exclude(stripe_price_id=""),
        widget=forms.HiddenInput,
    )


class ApiTokenForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("create", "create"), ("rotate", "rotate"), ("delete", "delete")]
    )
    # Not sent by "delete"; left out, None: api_tokens.issue() then takes API_TOKEN_DAYS.
    days = forms.TypedChoiceField(
        label=gettext_lazy("Valid for"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].choices = [
            (
                days,
                ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
                if days
                else _("Until I delete it"),
            )
            for days in api_tokens.lifetime_choices()
        ]
        self.fields["days"].initial = settings.API_TOKEN_DAYS
