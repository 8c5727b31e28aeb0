"""The query parameters of the API's lists, one serializer per list.

One way to read a query string: the view calls `read(request)`, a value that is not one
is a 400 naming the parameter (never a 500 from the database), and the same class
documents the parameters in the schema (`extend_schema(parameters=[TheQuery])`).
Serializers rather than django-filter: the station list is not a queryset filter
(stations.finder takes a StationFilter), and one tool for every list reads best.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.request import Request

from operations.models import Ticket
from operations.uptime import parse_month
from stations.finder import parse_position
from stations.models import ChargePoint, ChargingSession, Connector
from users.models import IdToken


def _max_length(model: type, field: str) -> int:
    return model._meta.get_field(field).max_length


class QueryParams(serializers.Serializer):
    """Parameters left out are left out of the result; unknown ones are ignored."""

    @classmethod
    def read(cls, request: Request) -> dict[str, Any]:
        # .dict(): the last value of each name, and an absent boolean stays absent (a
        # QueryDict would make it False, as an unticked checkbox).
        params = cls(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        return params.validated_data


def _optional_bool(help_text: str = "") -> serializers.BooleanField:
    return serializers.BooleanField(required=False, allow_null=True, help_text=help_text)


# --- Public --------------------------------------------------------------------------------


class StationQuery(QueryParams):
    available = _optional_bool(_("Only with a connector free now."))
    connector_type = serializers.ChoiceField(
        choices=Connector.Type.choices,
        required=False,
        help_text=_("Only with a connector of this type."),
    )
    # The sizes of the columns they are compared with (Connector.max_power_kw, prices).
    min_power = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        help_text=_("Only with a connector of at least this many kW."),
    )
    near = serializers.CharField(required=False, help_text=_("latitude,longitude: nearest first."))
    q = serializers.CharField(
        required=False,
        max_length=100,
        help_text=_("A place: every word in the site's name, address, postal code or city."),
    )
    max_price_per_kwh = serializers.DecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal(0),
        required=False,
        help_text=_(
            "Only with a connector whose energy price now, incl. VAT, is at most this "
            "(the caller's own price when logged in); connectors without a price are "
            "left out."
        ),
    )

    def validate_near(self, value: str) -> tuple[float, float]:
        position = parse_position(value)
        if position is None:
            raise serializers.ValidationError(_("Give a point as latitude,longitude."))
        return position


# --- A driver's own things -----------------------------------------------------------------


class MySessionQuery(QueryParams):
    status = serializers.ChoiceField(choices=ChargingSession.Status.choices, required=False)


# --- Staff ---------------------------------------------------------------------------------


class ChargePointQuery(QueryParams):
    site = serializers.IntegerField(required=False, min_value=1, help_text=_("A site's id."))
    registration_status = serializers.ChoiceField(
        choices=ChargePoint.Registration.choices, required=False
    )
    connected = _optional_bool()


class SessionQuery(QueryParams):
    status = serializers.ChoiceField(choices=ChargingSession.Status.choices, required=False)
    charge_point = serializers.CharField(
        required=False,
        max_length=_max_length(ChargePoint, "charge_point_id"),
        help_text=_("charge point id, e.g. CP-1"),
    )
    id_tag = serializers.CharField(
        required=False, max_length=_max_length(ChargingSession, "id_tag")
    )


class TokenQuery(QueryParams):
    owner = serializers.IntegerField(required=False, min_value=1, help_text=_("A user's id."))
    status = serializers.ChoiceField(choices=IdToken.Status.choices, required=False)
    uid = serializers.CharField(required=False, max_length=_max_length(IdToken, "uid"))


class UserQuery(QueryParams):
    email = serializers.CharField(
        required=False,
        max_length=_max_length(get_user_model(), "email"),
        help_text=_("Part of the address"),
    )
    is_staff = _optional_bool()


# --- Uptime (operations/uptime.py) ----------------------------------------------------------

# The largest id a database integer column holds: a bigger one is no site (404), not a 500.
MAX_ID = 2**31 - 1


class UptimeQuery(QueryParams):
    charge_point = serializers.CharField(
        required=False,
        max_length=_max_length(ChargePoint, "charge_point_id"),
        help_text=_("charge point id, e.g. CP-1 (this or site)"),
    )
    site = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text=_("A site's id (this or charge_point)."),
    )
    month = serializers.CharField(
        required=False,
        help_text=_("YYYY-MM, in the site's time zone; this month when left out."),
    )

    def validate_month(self, value: str) -> date:
        month = parse_month(value)
        if month is None:
            raise serializers.ValidationError(_("Give a month as YYYY-MM, e.g. 2026-03."))
        return month

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("charge_point" in attrs) == ("site" in attrs):
            raise serializers.ValidationError(
                _("Give either charge_point or site (one of them, not both).")
            )
        return attrs


class SiteQuery(QueryParams):
    stopped = _optional_bool(_("Only sites stopped in an emergency (true) or not (false)."))


# --- Staff: tickets ---------------------------------------------------------------------------

OPEN = "open"


class TicketQuery(QueryParams):
    charge_point = serializers.CharField(
        required=False,
        max_length=_max_length(ChargePoint, "charge_point_id"),
        help_text=_("charge point id, e.g. CP-1"),
    )
    site = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text=_("A site's id.")
    )
    # "open" is any state someone still has to act on, not only the state called open.
    status = serializers.ChoiceField(
        choices=[
            (OPEN, _("Open: any state not resolved or closed")),
            *[choice for choice in Ticket.Status.choices if choice[0] != OPEN],
        ],
        required=False,
    )


# --- Audit (audit/) ----------------------------------------------------------------------


class AuditQuery(QueryParams):
    object_type = serializers.CharField(
        required=False, max_length=100, help_text=_("app_label.model, e.g. users.idtoken")
    )
    object_id = serializers.CharField(required=False, max_length=64)
    actor = serializers.CharField(
        required=False, max_length=254, help_text=_("The staff member's email address")
    )
    since = serializers.DateTimeField(required=False, help_text=_("From this time on"))
    until = serializers.DateTimeField(required=False, help_text=_("Before this time"))
