"""The driver's notification forms: settings (notifications/views.py), *Find me a charger*
(notifications/nearby_views.py)."""

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from notifications import preferences
from notifications.models import Kind, Preferences
from stations.models import Connector

# What a browser sends for a ticked box (its value attribute), and the spellings of
# "true" and "false" an API client or a test might use.
_ON = frozenset({"on", "true", "1"})
_OFF = frozenset({"", "off", "false", "0"})


def _is_on(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _ON)


class StrictCheckbox(forms.CheckboxInput):
    """A checkbox that hands the posted text to its field as it came.

    Django's CheckboxInput reads any text as "ticked", so a garbled value would switch
    an email on without a word; OnOffField refuses it instead.
    """

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, check_test=_is_on)

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name) if name in data else None


class OnOffField(forms.BooleanField):
    """A ticked or empty box; any other value is an error, not a silent "on"."""

    widget = StrictCheckbox

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return bool(value)
        text = str(value).strip().lower()
        if text in _ON:
            return True
        if text in _OFF:
            return False
        raise forms.ValidationError(_("Tick the box or leave it empty."), code="invalid")


class PreferencesForm(forms.Form):
    """One box per kind and channel, rows from the registry of kinds
    (notifications/preferences.py KINDS), named `<kind>__<channel>`; quiet hours; for
    staff, the staff alerts they hear and the daily digest.
    A channel that cannot be turned off is shown ticked and greyed out (a disabled field
    ignores what is posted)."""

    quiet_start = forms.TimeField(
        label=_("Quiet hours from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Receipts and support's answers wait until your quiet hours end."),
    )
    quiet_end = forms.TimeField(
        label=_("Quiet hours until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    staff_digest = OnOffField(
        label=_("Staff alerts in a daily digest instead of one email each"),
        help_text=_("One email a day with the staff alerts and the ticket alerts."),
    )

    def __init__(self, *args: Any, saved: Preferences, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Staff also choose for the staff alerts they hear, and the digest (preferences.py).
        self.kinds = preferences.kinds_for(saved.user)
        self.user = saved.user
        self.staff = preferences.is_staff_member(saved.user)
        if self.staff:
            self.fields["staff_digest"].initial = saved.staff_digest
        else:
            del self.fields["staff_digest"]
        for kind in self.kinds:
            rule = preferences.KINDS[kind]
            channels = preferences.chosen(saved, kind)
            for channel, label in preferences.CHANNELS.items():
                field = OnOffField(label=label, initial=channel in channels)
                field.disabled = channel in rule.always
                field.widget.attrs["aria-label"] = f"{kind.label}: {label}"
                self.fields[self.field_name(kind, channel)] = field

    @staticmethod
    def field_name(kind: Kind, channel: str) -> str:
        return f"{kind}__{channel}"

    def rows(self) -> list[dict[str, Any]]:
        """The table's rows: the kind, its description and its boxes, channel by channel."""
        return [
            {
                "kind": kind,
                "rule": preferences.KINDS[kind],
                "boxes": [self[self.field_name(kind, c)] for c in preferences.CHANNELS],
            }
            for kind in self.kinds
        ]

    def channels(self) -> dict[Kind, list[str]]:
        """{kind: the ticked channels} of a valid form."""
        return {
            kind: [c for c in preferences.CHANNELS if self.cleaned_data[self.field_name(kind, c)]]
            for kind in self.kinds
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (cleaned.get("quiet_start") is None) != (cleaned.get("quiet_end") is None):
            raise forms.ValidationError(_("Give both times of your quiet hours, or neither."))
        for kind in self.kinds:
            names = [self.field_name(kind, c) for c in preferences.CHANNELS]
            if any(name in self.errors for name in names):
                continue
            ticked = [c for c in preferences.CHANNELS if cleaned[self.field_name(kind, c)]]
            try:
                preferences.check_channels({kind: ticked}, self.user)
            except ValidationError as error:
                self.add_error(names[0], error)
        return cleaned


class PositionForm(forms.Form):
    """A position from the browser's geolocation: finite degrees in range (NaN, infinity
    and out-of-range values are refused, by FloatField and the bounds)."""

    latitude = forms.FloatField(min_value=-90, max_value=90)
    longitude = forms.FloatField(min_value=-180, max_value=180)


class NearbyWatchForm(PositionForm):
    """*Find me a charger*: where the driver is and what they want (notifications/nearby.py)."""

    radius_km = forms.DecimalField(
        label=_("Within (km)"), min_value=Decimal("0.1"), max_digits=5, decimal_places=1
    )
    connector_type = forms.ChoiceField(
        label=_("Connector"),
        required=False,
        choices=[("", _("Any connector")), *Connector.Type.choices],
    )
    min_power_kw = forms.DecimalField(
        label=_("At least (kW)"),
        required=False,
        min_value=Decimal("0"),
        max_digits=7,
        decimal_places=1,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read now, not at import: the widest radius the matching's box covers.
        radius = self.fields["radius_km"]
        assert isinstance(radius, forms.DecimalField)
        radius.max_value = Decimal(settings.NEARBY_MAX_RADIUS_KM)
        radius.validators.append(MaxValueValidator(radius.max_value))
        radius.widget.attrs["max"] = str(radius.max_value)
        self.fields["latitude"].widget = forms.HiddenInput()
        self.fields["longitude"].widget = forms.HiddenInput()
