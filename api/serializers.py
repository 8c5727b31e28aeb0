"""What the API shows of the models. Money is Decimal, sent as strings."""

import dataclasses
from copy import copy
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as ModelValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditRecord
from billing.models import BillingAccount, Invoice, SessionCharge, WalletEntry
from billing.tariffs import cost_so_far, price_from
from charging.reservations import DEFAULT_MINUTES, MAX_MINUTES
from notifications import preferences, webhooks
from notifications.models import WebhookEndpoint
from operations import emergency
from operations.models import (
    EmergencyStop,
    SupportCase,
    SupportMessage,
    Ticket,
    TicketEntry,
)
from operations.support import MAX_MESSAGE_LENGTH
from stations import load_balancing, sessions, site_limits
from stations.finder import PUBLIC_CONNECTOR, ConnectorState, SiteResult
from stations.models import (
    SITE_AMPS_MAX,
    Booking,
    ChargePoint,
    ChargingSession,
    Connector,
    ConnectorAllocation,
    OpeningHours,
    Reservation,
    Site,
)
from stations.ocpp import protocols
from users.models import IdToken

MONEY = {"max_digits": 14, "decimal_places": 2}
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
UNIT_PRICE = {"max_digits": 14, "decimal_places": 4}


# --- Public: stations, connectors, prices ------------------------------------------------


class UnitPriceSerializer(serializers.Serializer):
    net = serializers.DecimalField(**UNIT_PRICE, help_text=_("Excluding VAT."))
    gross = serializers.DecimalField(**UNIT_PRICE, help_text=_("Including VAT."))


class PriceNowSerializer(serializers.Serializer):
    """billing.tariffs.PriceNow: the prices in force now, as a sign at the charger shows."""

    currency = serializers.CharField()
    per_kwh = UnitPriceSerializer()
    per_minute = UnitPriceSerializer()
    period = serializers.CharField(
        help_text=_("The time-of-use period in force; empty when the base prices apply.")
    )


class PriceFromSerializer(serializers.Serializer):
    """billing.tariffs.PriceFrom: a station's lowest price now among its connectors."""

    lowest = PriceNowSerializer()
    varies = serializers.BooleanField(help_text=_("Its connectors are priced differently."))


class ConnectorSerializer(serializers.ModelSerializer):
    available = serializers.SerializerMethodField(
        help_text=_("Available, on a charger that is online now.")
    )

    class Meta:
        model = Connector
        fields = [
            "id",
            "connector_id",
            "connector_type",
            "max_power_kw",
            "status",
            "status_at",
            "available",
        ]

    def get_available(self, connector: Connector) -> bool:
        return ConnectorState(connector, connector.charge_point.is_online()).available


class BookedSlotSerializer(serializers.Serializer):
    """A slot someone booked (stations.models.Booking), without who."""

    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class ConnectorStateSerializer(serializers.Serializer):
    """stations.finder.ConnectorState: a public connector and whether it is free now."""

    id = serializers.IntegerField(source="connector.pk")
    connector_id = serializers.IntegerField(source="connector.connector_id")
    connector_type = serializers.ChoiceField(
        source="connector.connector_type", choices=Connector.Type.choices
    )
    max_power_kw = serializers.DecimalField(
        source="connector.max_power_kw", max_digits=7, decimal_places=2
    )
    status = serializers.ChoiceField(source="connector.status", choices=Connector.Status.choices)
    status_at = serializers.DateTimeField(source="connector.status_at", allow_null=True)
    available = serializers.BooleanField(help_text=_("Available, on a charger that is online now."))
    price_now = serializers.SerializerMethodField(
        help_text=_("The price in force now for the caller; null when no tariff is set.")
    )

    booked_slots = serializers.SerializerMethodField(
        help_text=_(
            "The slots booked from now until as far ahead as one may book, soonest first: "
            "the connector is held for someone else then."
        )
    )

    @extend_schema_field(PriceNowSerializer(allow_null=True))
    def get_price_now(self, state: ConnectorState) -> dict[str, Any] | None:
        # Read for the whole page at once by the view (billing.tariffs.current_prices).
        price = self.context.get("prices", {}).get(state.connector.pk)
        return None if price is None else PriceNowSerializer(price).data

    @extend_schema_field(BookedSlotSerializer(many=True))
    def get_booked_slots(self, state: ConnectorState) -> list[dict[str, Any]]:
        # Read for the whole page at once by the view (stations.bookings.upcoming_slots).
        slots = self.context.get("booked", {}).get(state.connector.pk, [])
        return BookedSlotSerializer(slots, many=True).data


class PublicChargePointSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="charge_point.pk")
    charge_point_id = serializers.CharField(source="charge_point.charge_point_id")
    vendor = serializers.CharField(source="charge_point.vendor")
    model = serializers.CharField(source="charge_point.model")
    online = serializers.BooleanField()
    under_maintenance_until = serializers.DateTimeField(
        allow_null=True,
        help_text=_(
            "When planned maintenance that holds the charger out of use now ends; null: none."
        ),
    )
    connectors = ConnectorStateSerializer(many=True)


class OpeningHoursSerializer(serializers.Serializer):
    """One opening range of a site on one weekday, local time (like OCPI's regular_hours)."""

    weekday = serializers.IntegerField(help_text=_("ISO weekday: 1 = Monday … 7 = Sunday."))
    opens = serializers.TimeField(format="%H:%M")
    closes = serializers.SerializerMethodField(help_text=_("HH:MM; 24:00 is midnight."))

    def get_closes(self, hours: OpeningHours) -> str:
        return "24:00" if hours.closes_at_midnight else f"{hours.closes:%H:%M}"


class StationSerializer(serializers.Serializer):
    """stations.finder.SiteResult: a site with its public chargers and connectors."""

    id = serializers.IntegerField(source="site.pk")
    name = serializers.CharField(source="site.name")
    address = serializers.CharField(source="site.address")
    postal_code = serializers.CharField(source="site.postal_code")
    city = serializers.CharField(source="site.city")
    country = serializers.CharField(source="site.country")
    latitude = serializers.DecimalField(
        source="site.latitude", max_digits=9, decimal_places=6, allow_null=True
    )
    longitude = serializers.DecimalField(
        source="site.longitude", max_digits=9, decimal_places=6, allow_null=True
    )
    time_zone = serializers.CharField(source="site.time_zone")
    open_24_7 = serializers.BooleanField(
        source="site.open_24_7", help_text=_("Open around the clock; else see opening_hours.")
    )
    opening_hours = serializers.SerializerMethodField(
        help_text=_("In the site's time_zone; empty when open around the clock.")
    )
    open_now = serializers.BooleanField(help_text=_("Open now, by its opening hours."))
    out_of_service = serializers.SerializerMethodField(
        help_text=_("Stopped in an emergency: nobody can start or reserve here now.")
    )
    distance_km = serializers.SerializerMethodField(
        help_text=_("From the point given with ?near=lat,lon; null without it.")
    )
    charge_points = serializers.SerializerMethodField()
    price_from = serializers.SerializerMethodField(
        help_text=_(
            "The lowest price in force now among its connectors, for the caller; null when "
            "none has a tariff."
        )
    )

    @extend_schema_field(PriceFromSerializer(allow_null=True))
    def get_price_from(self, result: SiteResult) -> dict[str, Any] | None:
        prices = self.context.get("prices", {})
        found = price_from(prices.get(state.connector.pk) for state in result.connectors)
        return None if found is None else PriceFromSerializer(found).data

    def get_out_of_service(self, result: SiteResult) -> bool:
        # {site pk, ...} stopped, read once for the page by the view (api/views/public.py).
        return result.site.pk in self.context.get("out_of_service", set())

    @extend_schema_field(OpeningHoursSerializer(many=True))
    def get_opening_hours(self, result: SiteResult) -> list[dict[str, Any]]:
        if result.site.open_24_7:
            return []
        # Prefetched by stations.finder.group_by_site; ordered by weekday, then time.
        return OpeningHoursSerializer(result.site.opening_hours.all(), many=True).data

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_distance_km(self, result: SiteResult) -> float | None:
        return None if result.distance_km is None else round(result.distance_km, 3)

    @extend_schema_field(PublicChargePointSerializer(many=True))
    def get_charge_points(self, result: SiteResult) -> list[dict[str, Any]]:
        by_charge_point: dict[int, list[ConnectorState]] = {}
        for state in result.connectors:
            by_charge_point.setdefault(state.connector.charge_point_id, []).append(state)
        # {charge point pk: end}, read once for the page by the view (api/views/public.py).
        maintenance = self.context.get("maintenance", {})
        return PublicChargePointSerializer(
            [
                {
                    "charge_point": states[0].connector.charge_point,
                    "online": states[0].online,
                    "under_maintenance_until": maintenance.get(pk),
                    "connectors": states,
                }
                for pk, states in by_charge_point.items()
            ],
            many=True,
            context=self.context,
        ).data


class PeriodPreviewSerializer(serializers.Serializer):
    name = serializers.CharField()
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("ISO weekdays: 1 = Monday … 7 = Sunday.")
    )
    start = serializers.TimeField(help_text=_("Local time of the site."))
    end = serializers.TimeField()
    price_per_kwh = UnitPriceSerializer()
    price_per_minute = UnitPriceSerializer()


class PricePreviewSerializer(serializers.Serializer):
    """billing.tariffs.PricePreview: the prices a session started now would be charged."""

    tariff = serializers.CharField()
    explanation = serializers.CharField()
    currency = serializers.CharField()
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    time_zone = serializers.CharField()
    price_per_kwh = UnitPriceSerializer()
    price_per_minute = UnitPriceSerializer()
    session_fee = UnitPriceSerializer()
    idle_fee_per_minute = UnitPriceSerializer()
    idle_grace_minutes = serializers.IntegerField()
    min_price = UnitPriceSerializer(allow_null=True)
    max_price = UnitPriceSerializer(allow_null=True)
    time_of_use = PeriodPreviewSerializer(many=True)
    current_period = serializers.CharField()
    now = PriceNowSerializer()
    peak_per_kwh = UnitPriceSerializer(
        help_text=_("The dearest energy price of the week: the base's or a period's.")
    )


# --- A driver's own things ---------------------------------------------------------------


class CostSerializer(serializers.Serializer):
    """billing.pricing.Price: a finished session's price, or a running one's cost so far."""

    currency = serializers.CharField()
    net = serializers.DecimalField(**MONEY)
    vat = serializers.DecimalField(**MONEY)
    gross = serializers.DecimalField(**MONEY)
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    energy_kwh = serializers.DecimalField(max_digits=12, decimal_places=3)
    charging_minutes = serializers.DecimalField(max_digits=12, decimal_places=3)
    idle_minutes = serializers.DecimalField(max_digits=12, decimal_places=3)
    is_final = serializers.BooleanField()


class SessionSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="charge_point.charge_point_id", read_only=True)
    site = serializers.CharField(
        source="charge_point.site.name", read_only=True, allow_null=True, default=None
    )
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True)
    energy_wh = serializers.SerializerMethodField(
        help_text=_("Energy delivered in Wh; for a running session, so far.")
    )
    # The charger's word as OCPP 1.6 §7.38 Reason gives it ("EVDisconnected"), or blank.
    stop_reason = serializers.CharField(read_only=True)

    class Meta:
        model = ChargingSession
        fields = [
            "id",
            "charge_point",
            "site",
            "connector",
            "connector_id",
            "id_tag",
            "status",
            "started_at",
            "stopped_at",
            "meter_start_wh",
            "meter_stop_wh",
            "energy_wh",
            "stop_reason",
        ]
        read_only_fields = fields

    def get_energy_wh(self, session: ChargingSession) -> int:
        if session.energy_wh is not None:
            return session.energy_wh
        return sessions.session_energy_wh(session)  # running: by the same rule, so far


class SessionDetailSerializer(SessionSerializer):
    cost = serializers.SerializerMethodField(
        help_text=_("The price, or for a running session the cost so far; null: no tariff.")
    )

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "cost"]
        read_only_fields = fields

    @extend_schema_field(CostSerializer(allow_null=True))
    def get_cost(self, session: ChargingSession) -> dict[str, Any] | None:
        price = cost_so_far(session)
        return None if price is None else CostSerializer(price).data


def connector_field() -> serializers.PrimaryKeyRelatedField:
    """A connector a driver can use (stations.finder.PUBLIC_CONNECTOR)."""
    return serializers.PrimaryKeyRelatedField(
        queryset=Connector.objects.filter(PUBLIC_CONNECTOR).select_related("charge_point"),
        help_text=_("The connector's id, as listed under /api/v1/stations/."),
    )


class StartSessionSerializer(serializers.Serializer):
    connector = connector_field()
    id_token = serializers.CharField(
        required=False,
        help_text=_(
            "Which of your tokens to charge with (its uid); your first usable one if left out."
        ),
    )
    payment_method = serializers.ChoiceField(
        choices=BillingAccount.PaymentMethod.choices,
        required=False,
        help_text=_(
            "How to pay for this session: card, wallet or invoice, where usable for you; "
            "your account's payment method if left out."
        ),
    )
    departure_time = serializers.DateTimeField(
        required=False,
        help_text=_(
            "When you leave (up to 48 hours ahead); with energy_kwh, the charger follows the "
            "cheapest schedule that delivers it by then. Left out: charging starts at once."
        ),
    )
    energy_kwh = serializers.DecimalField(
        max_digits=7,
        decimal_places=3,
        required=False,
        help_text=_("The energy you need by departure_time, in kWh."),
    )


class ReservationSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="charge_point.charge_point_id", read_only=True)

    class Meta:
        model = Reservation
        fields = ["id", "charge_point", "connector_id", "id_tag", "expires_at", "status"]
        read_only_fields = fields


class ReserveSerializer(serializers.Serializer):
    connector = connector_field()
    minutes = serializers.IntegerField(
        min_value=1,
        max_value=MAX_MINUTES,
        default=DEFAULT_MINUTES,
        help_text=_("How long the connector is held for you."),
    )
    id_token = serializers.CharField(
        required=False,
        help_text=_(
            "Which of your tokens to hold it for (its uid); your first usable one if not given."
        ),
    )


def _fee_of(booking: Booking) -> SessionCharge | None:
    """The booking's no-show fee charge (billing/no_show.py), if one was charged."""
    try:
        return booking.charge
    except SessionCharge.DoesNotExist:
        return None


class BookingSerializer(serializers.ModelSerializer):
    """A connector booked ahead (charging/bookings.py)."""

    charge_point = serializers.CharField(
        source="connector.charge_point.charge_point_id", read_only=True
    )
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True)
    id_tag = serializers.CharField(source="id_token.uid", read_only=True)
    fee_charged = serializers.DecimalField(
        **MONEY,
        allow_null=True,
        read_only=True,
        help_text=_("The no-show or late cancellation fee charged, VAT included."),
    )
    fee_status = serializers.SerializerMethodField(
        help_text=_(
            "How the fee is being paid: pending, paid, failed, to_invoice or invoiced; "
            "null without a fee."
        )
    )
    fee_document = serializers.SerializerMethodField(
        help_text=_("The receipt or invoice the fee is on (its number); null until then.")
    )

    class Meta:
        model = Booking
        fields = [
            "id",
            "connector",
            "charge_point",
            "connector_id",
            "id_tag",
            "starts_at",
            "ends_at",
            "status",
            "fee_charged",
            "fee_status",
            "fee_document",
        ]
        read_only_fields = fields

    def get_fee_status(self, booking: Booking) -> str | None:
        fee = _fee_of(booking)
        return fee.status if fee is not None else None

    def get_fee_document(self, booking: Booking) -> str | None:
        fee = _fee_of(booking)
        return fee.document.display_number if fee is not None and fee.document else None


class BookSerializer(serializers.Serializer):
    connector = connector_field()
    starts_at = serializers.DateTimeField(
        help_text=_("When the slot starts: on the quarter hour, up to 7 days ahead.")
    )
    minutes = serializers.IntegerField(
        min_value=1,
        max_value=24 * 60,
        help_text=_("How long the slot lasts: 15 minutes to the longest allowed, in 15s."),
    )
    id_token = serializers.CharField(
        required=False,
        help_text=_(
            "Which of your tokens the connector is held for (its uid); your first usable "
            "one if not given."
        ),
    )


class CommandAnswerSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=_("The charger's answer, e.g. Accepted."))


class StartedSerializer(CommandAnswerSerializer):
    connector = serializers.IntegerField()
    id_tag = serializers.CharField()


class OwnTokenSerializer(serializers.ModelSerializer):
    uid = serializers.CharField(
        max_length=20,
        required=False,
        help_text=_("An RFID card's id tag; left out, an app token is generated."),
    )

    class Meta:
        model = IdToken
        fields = ["id", "uid", "type", "status", "name", "expires_at", "created_at"]
        read_only_fields = ["id", "type", "status", "expires_at", "created_at"]

    def validate_uid(self, value: str) -> str:
        uid = value.strip().upper()
        if not uid:
            raise serializers.ValidationError(_("An id tag cannot be blank."))
        if IdToken.objects.filter(uid=uid).exists():
            raise serializers.ValidationError(_("This id tag is already registered."))
        return uid


class InvoiceSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="display_number", read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "kind",
            "number",
            "issued_at",
            "currency",
            "net",
            "vat",
            "gross",
            "period_start",
            "period_end",
            "due_at",
            "paid_at",
            "corrects",
        ]
        read_only_fields = fields


class WalletEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = WalletEntry
        fields = ["id", "kind", "amount", "reference", "created_at"]
        read_only_fields = fields


class WalletSerializer(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.DecimalField(**MONEY)
    minimum_to_start = serializers.DecimalField(
        **MONEY, help_text=_("What a prepaid wallet must hold to start a session.")
    )
    refusal = serializers.CharField(
        allow_null=True, help_text=_("Why money stops you from starting now; null: it does not.")
    )


QUIET_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class NotificationKindSerializer(serializers.Serializer):
    """One kind of notification the driver may receive (notifications/preferences.py
    KINDS), so that an app builds its settings screen as the portal does."""

    kind = serializers.CharField(help_text=_("The key of `channels`."))
    label = serializers.CharField()
    description = serializers.CharField()
    transactional = serializers.BooleanField(
        help_text=_("Cannot be turned off entirely: keep at least one channel.")
    )
    always = serializers.ListField(
        child=serializers.CharField(), help_text=_("Channels that cannot be turned off.")
    )
    default = serializers.ListField(
        child=serializers.CharField(), help_text=_("The channels of a driver who never chose.")
    )


class NotificationSettingsSerializer(serializers.Serializer):
    """On which channels a driver wants each kind of notification
    (notifications/preferences.py), and quiet hours. PUT changes what it names."""

    channels = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=_(
            "Per kind (see `kinds`), the channels chosen: email, portal (the notification "
            "list in the portal), webpush (each device where push is on; without one, "
            "listed in the portal instead). A PUT changes the kinds it names; a "
            "transactional kind keeps at least one channel."
        ),
    )
    kinds = NotificationKindSerializer(many=True, read_only=True)
    push_devices = serializers.IntegerField(
        read_only=True, help_text=_("How many of your devices take push.")
    )
    notes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text=_("What you should know about your choices, e.g. push without a device."),
    )
    charging_finished = serializers.BooleanField(
        required=False, help_text=_("Charging finished by email (channels.charging_finished).")
    )
    receipts_by_email = serializers.BooleanField(
        required=False,
        help_text=_(
            "Receipts by email (channels.receipts); turned off, receipts are listed in the portal."
        ),
    )
    payment_problems = serializers.BooleanField(
        read_only=True, default=True, help_text=_("Always emailed; cannot be turned off.")
    )
    charging_finished_in_portal = serializers.BooleanField(
        required=False,
        help_text=_("Charging finished in the portal's notification list (channels)."),
    )
    # "HH:MM" wall-clock times, not JSON Schema's "time" (that one needs a UTC offset,
    # and quiet hours follow the local clock through daylight saving).
    quiet_start = serializers.RegexField(
        QUIET_TIME,
        required=False,
        allow_null=True,
        help_text=_(
            "Quiet hours from (local time); receipts and support's answers wait until they "
            "end. Null with quiet_end: none."
        ),
    )
    quiet_end = serializers.RegexField(
        QUIET_TIME,
        required=False,
        allow_null=True,
        help_text=_("Quiet hours until (local time)."),
    )
    staff_digest = serializers.BooleanField(
        required=False,
        help_text=_(
            "Staff only (shown to them): staff alerts by email in one daily digest instead "
            "of one email each."
        ),
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = dict(instance)
        for name in ("quiet_start", "quiet_end"):
            if data.get(name) is not None:
                data[name] = data[name].strftime("%H:%M")
        return super().to_representation(data)

    def validate_channels(self, value: dict[str, list[str]]) -> dict[str, list[str]]:
        try:
            preferences.check_channels(value, self.context["request"].user)
        except ModelValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return value

    def validate_staff_digest(self, value: bool) -> bool:
        if not preferences.is_staff_member(self.context["request"].user):
            raise serializers.ValidationError(_("The daily digest is for staff alerts."))
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("quiet_start" in data) != ("quiet_end" in data) or (
            (data.get("quiet_start") is None) != (data.get("quiet_end") is None)
        ):
            raise serializers.ValidationError(_("Give both times of your quiet hours, or neither."))
        for name in ("quiet_start", "quiet_end"):
            if data.get(name) is not None:
                data[name] = time.fromisoformat(data[name])
        return data


# --- Staff -------------------------------------------------------------------------------


class ChargePointSerializer(serializers.ModelSerializer):
    online = serializers.SerializerMethodField()
    connectors = ConnectorSerializer(many=True, read_only=True)

    class Meta:
        model = ChargePoint
        fields = [
            "id",
            "charge_point_id",
            "site",
            "registration_status",
            "protocol",
            "vendor",
            "model",
            "serial_number",
            "firmware_version",
            "is_connected",
            "online",
            "connected_at",
            "disconnected_at",
            "last_seen_at",
            "last_boot_at",
            "heartbeat_interval",
            "configuration",
            "connectors",
            "created_at",
        ]
        read_only_fields = [
            field for field in fields if field not in ("site", "registration_status")
        ]

    def get_online(self, charge_point: ChargePoint) -> bool:
        return charge_point.is_online()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's rule, as in admin: an accepted charger needs a password (or profile 0).
        candidate = copy(self.instance) if self.instance else ChargePoint()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.clean()
        except ModelValidationError as error:
            raise serializers.ValidationError({"registration_status": error.messages}) from error
        return attrs


class StaffSessionSerializer(SessionSerializer):
    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "id_token", "closed_by", "clock_suspect"]
        read_only_fields = fields


class StaffTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdToken
        fields = [
            "id",
            "uid",
            "type",
            "status",
            "name",
            "owner",
            "group_id",
            "expires_at",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        # validate_uid checks uniqueness as stored: upper case (IdToken.save()).
        extra_kwargs = {"uid": {"validators": []}}

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        # Outside these years a time cannot be shown in every time zone (before 1900 local
        # mean time has offsets in seconds, which RFC 3339 lacks; year 9999 + 1 hour fails).
        if value is not None and not (EARLIEST <= value < LATEST):
            raise serializers.ValidationError(_("Give a time between 1970 and 9998."))
        return value

    def validate_uid(self, value: str) -> str:
        uid = value.strip().upper()
        taken = IdToken.objects.filter(uid=uid)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(_("This id tag is already registered."))
        return uid


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "language",
            "is_active",
            "is_staff",
            "date_joined",
            "last_login",
        ]
        read_only_fields = ["id", "is_staff", "date_joined", "last_login"]


def _command_actions() -> list[str]:
    return sorted({action for module in protocols.PROTOCOLS.values() for action in module.COMMANDS})


class CommandSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=_command_actions(), help_text=_("An OCPP action a central system sends.")
    )
    payload = serializers.JSONField(
        default=dict, help_text=_("The request payload, camelCase as on the wire.")
    )

    def validate_payload(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError(_("The payload is a JSON object."))
        return value


class CommandResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    answer = serializers.JSONField(help_text=_("The charger's answer payload."))


# --- Uptime (operations/uptime.py) ----------------------------------------------------------


class PortUptimeSerializer(serializers.Serializer):
    charge_point = serializers.CharField(source="connector.charge_point.charge_point_id")
    connector_id = serializers.IntegerField(source="connector.connector_id")
    measured_from = serializers.DateTimeField(source="start")
    measured_to = serializers.DateTimeField(source="end")
    minutes = serializers.DecimalField(max_digits=12, decimal_places=2)
    outage_minutes = serializers.DecimalField(max_digits=12, decimal_places=2)
    excluded_minutes = serializers.DecimalField(max_digits=12, decimal_places=2)
    uptime_percent = serializers.DecimalField(max_digits=5, decimal_places=2)


class UptimeSerializer(serializers.Serializer):
    month = serializers.CharField(help_text=_("YYYY-MM"))
    charge_point = serializers.CharField(allow_null=True)
    site = serializers.IntegerField(allow_null=True)
    time_zone = serializers.CharField(help_text=_("The zone the month is counted in."))
    uptime_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        allow_null=True,
        help_text=_("All the ports together, weighed by their measured minutes; null: none."),
    )
    outage_minutes = serializers.DecimalField(max_digits=14, decimal_places=2)
    excluded_minutes = serializers.DecimalField(max_digits=14, decimal_places=2)
    connectors = PortUptimeSerializer(many=True)


# --- Driver support (operations/support.py) ------------------------------------------------


class SupportMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupportMessage
        fields = ["from_staff", "body", "created_at"]
        read_only_fields = fields


class SupportCaseSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.name", read_only=True, allow_null=True, default=None)
    charge_point = serializers.CharField(
        source="charge_point.charge_point_id", read_only=True, allow_null=True, default=None
    )
    connector_id = serializers.IntegerField(
        source="connector.connector_id", read_only=True, allow_null=True, default=None
    )
    messages = SupportMessageSerializer(
        many=True, read_only=True, help_text=_("The thread: yours and support's answers.")
    )

    class Meta:
        model = SupportCase
        fields = [
            "id",
            "category",
            "status",
            "message",
            "site",
            "charge_point",
            "connector",
            "connector_id",
            "session",
            "created_at",
            "messages",
        ]
        read_only_fields = fields


class ReportSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=SupportCase.Category.choices)
    message = serializers.CharField(
        max_length=MAX_MESSAGE_LENGTH, help_text=_("What happened, in your words.")
    )
    connector = serializers.PrimaryKeyRelatedField(
        queryset=Connector.objects.filter(PUBLIC_CONNECTOR).select_related("charge_point__site"),
        required=False,
        allow_null=True,
        help_text=_("The connector it is about (its id, as under /api/v1/stations/)."),
    )
    session = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text=_("One of your sessions it is about (its id, as under /api/v1/me/sessions/)."),
    )


class SupportMessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_MESSAGE_LENGTH)


# --- Staff: sites and their emergency stop (operations/emergency.py) ---------------------


class ChargerResultSerializer(serializers.Serializer):
    """One charger's answers to an emergency stop and its release, in words."""

    charge_point_id = serializers.CharField()
    stop = serializers.CharField(help_text=_("Each running session and its RemoteStop answer."))
    availability = serializers.CharField(
        help_text=_("Its answer to ChangeAvailability Inoperative, or why there was none.")
    )
    release = serializers.CharField(
        help_text=_("Its answer to ChangeAvailability Operative, or why there was none.")
    )
    availability_done = serializers.BooleanField()
    release_done = serializers.BooleanField()


class EmergencyStopSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    chargers = serializers.SerializerMethodField()

    class Meta:
        model = EmergencyStop
        fields = [
            "id",
            "site",
            "active",
            "reason",
            "started_by",
            "started_at",
            "released_by",
            "released_at",
            "chargers",
        ]
        read_only_fields = fields

    @extend_schema_field(ChargerResultSerializer(many=True))
    def get_chargers(self, stop: EmergencyStop) -> list[dict[str, Any]]:
        return [dataclasses.asdict(line) for line in emergency.describe(stop)]


class SiteSerializer(serializers.ModelSerializer):
    charge_points = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    emergency_stop = serializers.SerializerMethodField(
        help_text=_("The emergency stop in force, or null.")
    )

    class Meta:
        model = Site
        fields = [
            "id",
            "name",
            "address",
            "postal_code",
            "city",
            "country",
            "latitude",
            "longitude",
            "time_zone",
            "grid_capacity_kw",
            "open_24_7",
            "charge_points",
            "emergency_stop",
            "grid_limit_amps",
            "phases",
            "min_amps",
            "dynamic_limit_amps",
            "dynamic_limit_until",
            "limit_now_amps",
            "limit_warning",
        ]
        # Opening hours (and so open_24_7, which needs them) are edited in admin; the
        # dynamic limit through its own endpoint (dynamic-limit/).
        read_only_fields = ["id", "open_24_7", "dynamic_limit_amps", "dynamic_limit_until"]
        extra_kwargs = {
            "latitude": {"min_value": -90, "max_value": 90},
            "longitude": {"min_value": -180, "max_value": 180},
            "grid_capacity_kw": {"min_value": 0},
        }

    limit_now_amps = serializers.SerializerMethodField(
        help_text=_(
            "Smart charging: the limit per phase in force now (the lowest of the grid "
            "limit, a time-of-day limit and the dynamic limit); null when not managed."
        )
    )
    limit_warning = serializers.SerializerMethodField(
        help_text=_("Why some sessions will wait at that limit, or an empty string.")
    )

    @extend_schema_field(serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True))
    def get_limit_now_amps(self, site: Site) -> str | None:
        amps = site_limits.limit_now(site)
        return None if amps is None else f"{amps:.1f}"

    def get_limit_warning(self, site: Site) -> str:
        return load_balancing.shortfall(site)

    @extend_schema_field(EmergencyStopSerializer(allow_null=True))
    def get_emergency_stop(self, site: Site) -> dict[str, Any] | None:
        stops = [stop for stop in site.emergency_stops.all() if stop.is_active]
        return EmergencyStopSerializer(stops[0]).data if stops else None

    def validate_time_zone(self, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise serializers.ValidationError(
                _("Give an IANA time zone, e.g. Europe/Stockholm.")
            ) from None
        return value

    def validate_country(self, value: str) -> str:
        if not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise serializers.ValidationError(_("Give a two-letter country code (ISO 3166-1)."))
        return value.upper()


class DynamicLimitSerializer(serializers.Serializer):
    """PUT sites/{id}/dynamic-limit/: a limit from outside, until an expiry."""

    amps = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        min_value=Decimal(0),
        max_value=Decimal(SITE_AMPS_MAX),
        allow_null=True,
        help_text=_("Amps per phase; null clears the dynamic limit."),
    )
    until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("When it lapses and the site's own limits apply again; null: until cleared."),
    )


class AllocationSerializer(serializers.Serializer):
    """One connector's smart charging allocation (stations.ConnectorAllocation)."""

    charge_point = serializers.CharField(source="connector.charge_point.charge_point_id")
    connector_id = serializers.IntegerField(source="connector.connector_id")
    session = serializers.IntegerField(source="session_id", allow_null=True)
    limit_amps = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        allow_null=True,
        help_text=_("What it should get now; 0 while it waits."),
    )
    accepted_amps = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        allow_null=True,
        help_text=_("What its charger accepted last."),
    )
    drawn_amps = serializers.DecimalField(
        max_digits=6,
        decimal_places=1,
        allow_null=True,
        help_text=_("What the car draws (the highest phase of its last Current.Import)."),
    )
    priority = serializers.IntegerField()
    waiting = serializers.BooleanField()
    profile_status = serializers.ChoiceField(
        choices=ConnectorAllocation.ProfileStatus.choices,
        help_text=_("rejected or failed: counted at its maximum; see profile_error."),
    )
    profile_error = serializers.CharField()


class EmergencyStopRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text=_("Why: kept in the audit with your name and the time.")
    )


class EmergencyStopConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    emergency_stop = EmergencyStopSerializer(allow_null=True)


# --- Staff: tickets (operations/tickets.py) -----------------------------------------------


class TicketEntrySerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = TicketEntry
        fields = ["id", "kind", "author", "text", "data", "created_at"]
        read_only_fields = fields


class TicketSerializer(serializers.ModelSerializer):
    charge_point = serializers.SlugRelatedField(slug_field="charge_point_id", read_only=True)
    connector = serializers.IntegerField(
        source="connector.connector_id", read_only=True, allow_null=True
    )
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "kind",
            "title",
            "severity",
            "status",
            "site",
            "charge_point",
            "connector",
            "occurrences",
            "assignee",
            "opened_at",
            "last_occurred_at",
            "due_at",
            "overdue",
            "resolved_at",
            "resolution",
        ]
        read_only_fields = fields

    def get_overdue(self, ticket: Ticket) -> bool:
        return ticket.is_overdue()


class TicketDetailSerializer(TicketSerializer):
    entries = TicketEntrySerializer(many=True, read_only=True)

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "entries"]
        read_only_fields = fields


class TicketChangeSerializer(serializers.Serializer):
    """What staff change on a ticket; operations.tickets.update checks the moves."""

    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    severity = serializers.ChoiceField(choices=Ticket.Severity.choices, required=False)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text=_("A technician's user id; null unassigns."),
    )


class TicketRepairSerializer(serializers.Serializer):
    """A remote repair started: its steps follow on the ticket as entries of kind repair."""

    detail = serializers.CharField()
    steps = serializers.ListField(
        child=serializers.CharField(), help_text=_("The commands it sends, in order.")
    )


class TicketCommentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000, help_text=_("The comment."))


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """An integrator's endpoint (notifications/webhooks.py); the secret only in the answer
    to the POST that made it."""

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(webhooks.EVENTS)),
        required=False,
        help_text=_("Event names; empty or left out: every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "enabled", "consecutive_failures", "created_at"]
        read_only_fields = ["id", "enabled", "consecutive_failures", "created_at"]

    def validate_url(self, url: str) -> str:
        try:
            webhooks.check_target(url)
        except webhooks.TargetRefused as refused:
            raise serializers.ValidationError(str(refused)) from refused
        return url


class NewWebhookEndpointSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("The signing secret, shown this once: keep it.")
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class AuditRecordSerializer(serializers.ModelSerializer):
    """Who changed what and when; `before` and `after` hold the fields that changed."""

    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "at",
            "actor",
            "actor_email",
            "door",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "path",
        ]
        read_only_fields = fields
