"""Forms of the portal's support pages (portal/support_views.py); the rules are in
operations/support.py."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from operations import support
from operations.models import SupportCase
from stations.models import ChargingSession, Site


class ConnectorChoice(forms.ModelChoiceField):
    def label_from_instance(self, connector: Any) -> str:
        # Staff and drivers know a connector by its charger's id and its number.
        return _("Charger %(charger)s, connector %(connector)s") % {
            "charger": connector.charge_point.charge_point_id,
            "connector": connector.connector_id,
        }


class ReportForm(forms.Form):
    """A driver reports a problem: what about, what happened, and where, if at a station."""

    category = forms.ChoiceField(
        label=_("What is it about?"),
        choices=SupportCase.Category.choices,
        widget=forms.RadioSelect,
    )
    connector = ConnectorChoice(
        label=_("Which connector?"),
        queryset=support.reportable_connectors(),
        required=False,
        empty_label=_("Not about one connector"),
    )
    message = forms.CharField(
        label=_("What happened?"),
        max_length=support.MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    def __init__(
        self,
        *args: Any,
        site: Site | None = None,
        session: ChargingSession | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if session is not None or site is None:
            # A session names its connector; without a station there is no short list.
            del self.fields["connector"]
        else:
            self.fields["connector"].queryset = support.reportable_connectors().filter(
                charge_point__site=site
            )


class MessageForm(forms.Form):
    """The driver writes again in their case."""

    body = forms.CharField(
        label=_("Your message"),
        max_length=support.MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
