"""Forms of the driver portal."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing import payment_choice
from billing.models import BillingAccount
from billing.price_filter import station_filter
from charging.bookings import STEP_MINUTES
from charging.reservations import DEFAULT_MINUTES, MINUTES_CHOICES
from charging.tokens import own_tokens, usable_tokens
from stations.finder import PUBLIC_CONNECTOR, StationFilter, parse_position
from stations.models import Connector
from users.models import IdToken, User


class StationFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Place, address or city"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    connector_type = forms.ChoiceField(
        label=_("Connector"),
        required=False,
        choices=[("", _("Any connector")), *Connector.Type.choices],
    )
    min_power = forms.DecimalField(
        label=_("At least (kW)"), required=False, min_value=Decimal(0), max_digits=7
    )
    max_price = forms.DecimalField(
        label=_("Max price per kWh (incl. VAT)"),
        required=False,
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=4,
    )
    available = forms.BooleanField(label=_("Available now"), required=False)
    # "lat,lon", set by the page's geolocation script (portal/static/portal/finder.js).
    near = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_near(self) -> tuple[float, float] | None:
        near = self.cleaned_data["near"].strip()
        return parse_position(near) if near else None

    def station_filter(self, user: User | None = None) -> StationFilter:
        """The filter as asked; a field with a bad value counts as not given (the page
        shows its error). Prices are the ones `user` would pay (their customer groups')."""
        self.is_valid()  # Django leaves invalid fields out of cleaned_data
        data = self.cleaned_data
        return station_filter(
            user,
            connector_type=data.get("connector_type") or "",
            min_power_kw=data.get("min_power"),
            available_now=bool(data.get("available")),
            near=data.get("near"),
            place=data.get("q") or "",
            max_price=data.get("max_price"),
        )


class OwnTokenField(forms.ModelChoiceField):
    """One of the driver's tokens, or none (the app): offers the usable ones, accepts any
    of theirs, so that charging.tokens says why one cannot charge, as the API does."""

    def __init__(self, label: str) -> None:
        super().__init__(
            label=label,
            queryset=IdToken.objects.none(),
            required=False,
            empty_label=_("The app (this portal)"),
        )

    def for_driver(self, user: User) -> None:
        self.queryset = own_tokens(user)
        offered = forms.models.ModelChoiceIterator(self)
        offered.queryset = usable_tokens(user)
        self.widget.choices = offered


class StartForm(forms.Form):
    connector = forms.ModelChoiceField(
        queryset=Connector.objects.filter(PUBLIC_CONNECTOR).select_related("charge_point__site"),
        widget=forms.HiddenInput,
    )
    token = OwnTokenField(label=_("Charge with"))
    # Not given: the account's own payment method (a form from before the choice).
    payment = forms.ChoiceField(
        label=_("Pay with"),
        required=False,
        widget=forms.RadioSelect,
        choices=BillingAccount.PaymentMethod.choices,
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["token"].for_driver(user)
        # Shown: the methods this driver may choose, labelled for them ("Card •••• 4242").
        # Accepted: any method, so that clean_payment can say why one is not theirs.
        self.payment_options = payment_choice.options_for(user)
        self.fields["payment"].widget.choices = [
            (option.method, option.label) for option in self.payment_options.options
        ]
        self.fields["payment"].initial = self.payment_options.default

    # Cheap-hour charging (charging/cheap_hours.py): both or neither.
    ready_by = forms.TimeField(
        label=_("Ready by (optional)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Local time at the charger, within the next 24 hours."),
    )
    energy_kwh = forms.DecimalField(
        label=_("Energy needed (kWh)"),
        required=False,
        max_digits=7,
        decimal_places=3,
    )

    def departure(self) -> datetime | None:
        """The next time the charger's clock shows `ready_by`, or None."""
        ready_by = self.cleaned_data.get("ready_by")
        if ready_by is None:
            return None
        site = self.cleaned_data["connector"].charge_point.site
        try:
            zone = ZoneInfo(site.time_zone) if site else timezone.get_current_timezone()
        except (ValueError, ZoneInfoNotFoundError):
            zone = timezone.get_current_timezone()
        now = timezone.now().astimezone(zone)
        moment = datetime.combine(now.date(), ready_by, tzinfo=zone)
        return moment if moment > now else moment + timedelta(days=1)

    def clean_payment(self) -> str | None:
        method = self.cleaned_data["payment"] or None
        # The reason, rather than "not one of the available choices" (billing's rule).
        if method is not None and (reason := payment_choice.refusal(self.user, method)):
            raise forms.ValidationError(reason, code="payment")
        return method


class TokenNameForm(forms.ModelForm):
    """A driver names one of their cards or tokens ("Work car", "Blue card")."""

    class Meta:
        model = IdToken
        fields = ["name"]
        labels = {"name": _("Name")}


class TokenForm(forms.ModelForm):
    """A driver registers an RFID card: its uid (printed on it) and a name of their own."""

    class Meta:
        model = IdToken
        fields = ["uid", "name"]
        labels = {"uid": _("Card number (id tag)"), "name": _("Name")}
        help_texts = {"uid": _("Printed on the card, up to 20 characters.")}

    def clean_uid(self) -> str:
        # Stored upper case (OCPP idTags are case-insensitive); normalised here so that
        # the uniqueness check sees the stored spelling.
        uid = self.cleaned_data["uid"].strip().upper()
        if not uid:
            raise forms.ValidationError(_("Enter the card number."))
        return uid

    def validate_unique(self) -> None:
        try:
            self.instance.validate_unique(exclude=self._get_validation_exclusions())
        except forms.ValidationError:
            # Whose card it is, is nobody else's business: one message for every case.
            self.add_error("uid", _("This card is already registered."))


class ReserveForm(forms.Form):
    """Hold a connector for a while, for one of the driver's tokens or the app."""

    connector = forms.ModelChoiceField(
        queryset=Connector.objects.filter(PUBLIC_CONNECTOR).select_related("charge_point__site"),
        widget=forms.HiddenInput,
    )
    minutes = forms.TypedChoiceField(label=_("Reserve for"), coerce=int, initial=DEFAULT_MINUTES)
    token = OwnTokenField(label=_("For"))

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["minutes"].choices = [
            (n, ngettext("%(count)d minute", "%(count)d minutes", n) % {"count": n})
            for n in MINUTES_CHOICES
        ]
        self.fields["token"].for_driver(user)


class BookForm(forms.Form):
    """Book a connector ahead: a day and a time at the charger (its site's time zone),
    a length; charging.bookings says whether the slot may be booked."""

    connector = forms.ModelChoiceField(
        queryset=Connector.objects.filter(PUBLIC_CONNECTOR).select_related("charge_point__site"),
        widget=forms.HiddenInput,
    )
    day = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))
    start = forms.TimeField(
        label=_("From"),
        widget=forms.TimeInput(attrs={"type": "time", "step": STEP_MINUTES * 60}, format="%H:%M"),
    )
    minutes = forms.TypedChoiceField(label=_("For"), coerce=int, initial=60)
    token = OwnTokenField(label=_("Held for"))

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["minutes"].choices = [
            (n, ngettext("%(count)d minute", "%(count)d minutes", n) % {"count": n})
            for n in range(STEP_MINUTES, settings.BOOKING_MAX_MINUTES + 1, STEP_MINUTES)
        ]
        self.fields["token"].for_driver(user)
        if not self.is_bound:
            self.initial.setdefault("day", timezone.localdate())

    def starts_at(self) -> datetime:
        """The slot's start as an aware moment, read in the charger's time zone."""
        data = self.cleaned_data
        site = data["connector"].charge_point.site
        try:
            zone = ZoneInfo(site.time_zone) if site else timezone.get_current_timezone()
        except (ValueError, ZoneInfoNotFoundError):
            zone = timezone.get_current_timezone()
        return datetime.combine(data["day"], data["start"], tzinfo=zone)
