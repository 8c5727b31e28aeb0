"""The back office for stations: sites, chargers, sessions, logs, and commands to chargers.

Commands go through stations.operations (the rules) and stations.ocpp.commands (the
transport); this module only asks for parameters and reports each charger's answer.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
from itertools import pairwise
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import BooleanField, Case, Count, Exists, OuterRef, Q, QuerySet, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ocpp.v16.enums import Measurand, MessageTrigger, ReadingContext

from chargehub.admin_csv import export_csv
from chargehub.admin_fields import (
    LOCAL_TIME_INPUT,
    BlankValuesFilter,
    HugeTableAdmin,
    LabelledTabularInline,
    LiveFigures,
    ReadOnlyAdmin,
)
from chargehub.databases import reads_from_replica
from stations import (
    batches,
    certificates,
    charger_auth,
    load_balancing,
    operations,
    site_limits,
    tasks,
)
from stations.charger_auth import MIN_PASSWORD_LENGTH, generate_password
from stations.models import (
    MIDNIGHT,
    Booking,
    ChargePoint,
    ChargerCertificate,
    ChargerCommand,
    ChargingSession,
    CommandBatch,
    Connector,
    ConnectorAllocation,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    InstalledCertificate,
    LocalListEntry,
    MeterSample,
    OcppMessage,
    OpeningHours,
    RefusedConnection,
    Reservation,
    SecurityEvent,
    Site,
    SiteLimitPeriod,
    StatusEvent,
)
from stations.ocpp import commands
from stations.ocpp.connections import UNKNOWN_CHARGE_POINT

# Answers that mean "done as asked"; anything else (Rejected, Occupied, …) is a warning.
POSITIVE_ANSWERS = {"Accepted", "Unlocked", "Scheduled", "RebootRequired"}


class WithoutNavSidebar:
    """A change page drawn without the admin's navigation sidebar, as the uptime and
    insights reports are: it listed every app's models again on each load, 7 ms of CPU
    and 29 kB of the charger's and the session's pages (docs/performance.md)."""

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context = {**context, "is_nav_sidebar_enabled": False}
        return super().render_change_form(request, context, *args, **kwargs)  # type: ignore[misc]


# --- Sending commands from the admin ---------------------------------------------------------


class SendsCommands:
    """Admin actions that send a command to chargers need stations.send_commands.

    Being able to edit a charger's record is not enough: a reset stops the sessions on it.
    """

    def has_send_commands_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("stations.send_commands")


def send_and_report(
    request: HttpRequest,
    label: str,
    send: Callable[[], Any],
    describe: Callable[[Any], str] = lambda answer: answer.status,
) -> None:
    """Run one command and show its outcome as "CP-1: Accepted" / "CP-2: The charger is
    offline right now." (operations.command_failure, as every other page says it)."""
    try:
        answer = send()
    except commands.CommandError as error:
        messages.error(request, f"{label}: {operations.command_failure(error).message}")
        return
    status = getattr(answer, "status", None)
    level = messages.SUCCESS if status is None or status in POSITIVE_ANSWERS else messages.WARNING
    messages.add_message(request, level, f"{label}: {describe(answer)}")


def command_form_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    form_class: type[forms.Form],
    title: str,
) -> forms.Form | TemplateResponse:
    """The intermediate page of an action that needs parameters.

    Returns the valid form once submitted; until then the page that asks for it.
    """
    form = form_class(request.POST if request.POST.get("post") else None)
    form.selected = queryset  # type: ignore[attr-defined]  # what a form may check it is for
    if form.is_bound and form.is_valid():
        return form
    return TemplateResponse(
        request,
        "admin/stations/command_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "form": form,
            "queryset": queryset,
            "action": request.POST["action"],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


class ResetForm(forms.Form):
    type = forms.ChoiceField(
        label=_("Reset"),
        choices=[
            ("Soft", _("Soft: restart the software, stop sessions gracefully")),
            ("Hard", _("Hard: reboot the charger")),
        ],
    )


class UnlockConnectorForm(forms.Form):
    connector_id = forms.IntegerField(label=_("Connector"), min_value=1, initial=1)


class ChangeAvailabilityForm(forms.Form):
    connector_id = forms.IntegerField(
        label=_("Connector"), min_value=0, initial=0, help_text=_("0 is the whole charger.")
    )
    type = forms.ChoiceField(
        label=_("Availability"),
        choices=[("Operative", _("Operative")), ("Inoperative", _("Inoperative"))],
    )


class RemoteStartForm(forms.Form):
    id_tag = forms.CharField(label=_("Id tag"), max_length=20)  # OCPP 1.6 IdToken: CiString20
    connector_id = forms.IntegerField(
        label=_("Connector"),
        min_value=1,
        required=False,
        help_text=_("Empty lets the charger choose."),
    )


class ChangeConfigurationForm(forms.Form):
    # OCPP 1.6 §6.9: key CiString50, value CiString500.
    key = forms.CharField(label=_("Key"), max_length=50)
    value = forms.CharField(label=_("Value"), max_length=500)

    def clean(self) -> dict[str, Any]:
        """An AuthorizationKey is one charger's password (whitepaper A01.FR.06: each its
        own): never sent to several chargers at once, nor kept in a batch to send later."""
        data = super().clean()
        selected = getattr(self, "selected", None)
        if (
            charger_auth.is_authorization_key(data.get("key"))
            and selected is not None
            and selected.count() > 1
        ):
            raise forms.ValidationError(
                _(
                    "An AuthorizationKey is a charger's own password: "
                    "set it on one charger at a time."
                )
            )
        return data


class TriggerMessageForm(forms.Form):
    requested_message = forms.ChoiceField(
        label=_("Message"), choices=[(m.value, m.value) for m in MessageTrigger]
    )
    connector_id = forms.IntegerField(
        label=_("Connector"), min_value=1, required=False, help_text=_("Empty: the charger.")
    )


class InstallCertificateForm(forms.Form):
    certificate_type = forms.ChoiceField(label=_("Type"), choices=InstalledCertificate.Type.choices)
    certificate = forms.CharField(
        label=_("Certificate (PEM)"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 66}),
        max_length=5500,  # the whitepaper's InstallCertificate.req limit
    )

    def clean_certificate(self) -> str:
        pem = self.cleaned_data["certificate"].strip() + "\n"
        if not certificates.is_certificate(pem):
            raise forms.ValidationError(_("This is not a PEM certificate."))
        return pem


class CompositeScheduleForm(forms.Form):
    connector_id = forms.IntegerField(
        label=_("Connector"), min_value=0, initial=1, help_text=_("0 is the whole charger.")
    )
    duration = forms.IntegerField(
        label=_("Seconds ahead"), min_value=60, max_value=7 * 24 * 3600, initial=3600
    )


def unauthenticated_warning(charge_point: ChargePoint) -> str:
    return gettext(
        "%(id)s connects without authentication (security profile 0): anyone who knows its "
        "id can act as it. Only for a test bench on a closed network."
    ) % {"id": charge_point.charge_point_id}


def connector_label(connector: Connector) -> str:
    # Connector.__str__ shows the charge point's database id; staff know the OCPP id.
    return f"{connector.charge_point.charge_point_id} #{connector.connector_id}"


# --- Sites and charge points ---------------------------------------------------------------


def short_time(moment: datetime) -> str:
    """Today's times as 14:05, older ones with their date: a list stays narrow."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


class ConnectionFilter(admin.SimpleListFilter):
    """Online, dropped off (was connected, is not now), or never connected at all: the
    last two need different people (a site visit, or the installer)."""

    title = _("connection")
    parameter_name = "connection"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("online", _("Online")),
            ("dropped", _("Dropped off")),
            ("never", _("Never connected")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ChargePoint]
    ) -> QuerySet[ChargePoint]:
        # is_connected: the periodic liveness rule clears it for a charger gone silent.
        if self.value() == "online":
            return queryset.filter(is_connected=True)
        if self.value() == "dropped":
            return queryset.filter(is_connected=False, connected_at__isnull=False)
        if self.value() == "never":
            return queryset.filter(connected_at__isnull=True)
        return queryset


class OpeningHoursFormSet(forms.BaseInlineFormSet):
    """A site's week as a whole: ranges of one day may not overlap, and a site that is
    not open around the clock needs at least one (else it would show as never open)."""

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return  # the rows' own errors first
        ranges = sorted(
            (data["weekday"], data["opens"], data["closes"])
            for data in (form.cleaned_data for form in self.forms)
            if data and not data.get("DELETE")
        )
        for (day, _opens, closes), (next_day, next_opens, _closes) in pairwise(ranges):
            # Sorted by opening: a range overlaps the one before when it opens before
            # that one closes (closing at midnight is the end of the day).
            if day == next_day and (closes == MIDNIGHT or next_opens < closes):
                raise forms.ValidationError(
                    gettext("The opening hours on %(day)s overlap.")
                    % {"day": OpeningHours.Weekday(day).label},
                    code="overlap",
                )
        if not self.instance.open_24_7 and not ranges:
            raise forms.ValidationError(
                gettext(
                    "Add the opening hours, or tick “open around the clock”: without either "
                    "the site would show as never open."
                ),
                code="no_hours",
            )


class OpeningHoursInline(LabelledTabularInline):
    model = OpeningHours
    formset = OpeningHoursFormSet
    formfield_overrides = LOCAL_TIME_INPUT
    extra = 0
    fields = ["weekday", "opens", "closes"]


class SiteLimitPeriodInline(LabelledTabularInline):
    model = SiteLimitPeriod
    formfield_overrides = LOCAL_TIME_INPUT
    extra = 0
    fields = ["starts", "ends", "amps"]
    verbose_name_plural = _("Smart charging: lower limits by time of day (the site's time)")


# The site page's chart of measured load against the limit shows this much history.
LOAD_CHART_SPAN = timedelta(hours=24)

SMART_FIELDS = [
    "grid_limit_amps",
    "phases",
    "min_amps",
    "dynamic_limit_amps",
    "dynamic_limit_until",
]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "city",
        "country",
        "charge_point_count",
        "grid_capacity_kw",
        "grid_limit_amps",
    ]
    search_fields = ["name", "city", "address"]
    list_filter = ["country", "open_24_7"]
    inlines = [OpeningHoursInline, SiteLimitPeriodInline]
    readonly_fields = ["limit_now", "allocation"]
    fieldsets = [
        (
            None,
            {
                "fields": [
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
                ]
            },
        ),
        (_("Smart charging"), {"fields": [*SMART_FIELDS, "limit_now", "allocation"]}),
    ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        site = self.get_object(request, object_id)
        if site is not None and site.grid_limit_amps is not None:
            # A managed site's history: the chart and the profiles its chargers were sent.
            chart = load_balancing.load_history(site, timezone.now() - LOAD_CHART_SPAN)
            chart["labels"] = {"drawn": gettext("drawn"), "limit": gettext("limit")}
            extra_context = {
                **(extra_context or {}),
                "load_chart": chart,
                "profiles_sent": load_balancing.profiles_sent(site),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Limits (the site's and its time-of-day ones) may have changed: tell the chargers.
        tasks.allocate_soon(form.instance.pk)

    @admin.display(description=_("limit now"))
    def limit_now(self, site: Site) -> str:
        if site.pk is None:
            return "-"
        amps = site_limits.limit_now(site)
        if amps is None:
            return gettext("Not managed: no grid limit.")
        warning = load_balancing.shortfall(site)
        measured = ", ".join(
            f"L{phase} {drawn} A" for phase, drawn in load_balancing.measured_load(site).items()
        )
        text = gettext("%(amps)s A per phase; the cars draw %(measured)s now") % {
            "amps": amps,
            "measured": measured,
        }
        return f"{text}. {warning}" if warning else text

    @admin.display(description=_("allocation now"))
    def allocation(self, site: Site) -> str:
        if site.pk is None:
            return "-"
        rows = (
            ConnectorAllocation.objects.filter(connector__charge_point__site=site)
            .select_related("connector__charge_point")
            .order_by("connector__charge_point__charge_point_id", "connector__connector_id")
        )
        if not rows:
            return gettext("No allocation yet.")
        sent = (
            reverse("admin:stations_chargercommand_changelist")
            + "?"
            + urlencode({"source": load_balancing.SOURCE, "charge_point__site__id__exact": site.pk})
        )
        return format_html(
            '<p><a href="{}">{}</a></p>'
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr>{}</table>",
            sent,
            gettext("Profiles sent and the chargers' answers"),
            gettext("connector"),
            gettext("priority"),
            gettext("driver's plan now (A)"),
            gettext("allocated (A)"),
            gettext("charger holds (A)"),
            gettext("drawn (A)"),
            gettext("profile"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td></tr>",
                (
                    (
                        str(row.connector),
                        row.priority,
                        # A cheap-hour plan's cap: why a car may get less than its share.
                        "-" if row.cap_amps is None else row.cap_amps,
                        "-" if row.limit_amps is None else row.limit_amps,
                        "-" if row.accepted_amps is None else row.accepted_amps,
                        "-" if row.drawn_amps is None else row.drawn_amps,
                        (gettext("waiting") + " " if row.waiting else "")
                        + str(row.get_profile_status_display())
                        + (f": {row.profile_error}" if row.profile_error else ""),
                    )
                    for row in rows
                ),
            ),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return super().get_queryset(request).annotate(charge_point_count=Count("charge_points"))

    @admin.display(description=_("charge points"), ordering="charge_point_count")
    def charge_point_count(self, site: Site) -> int:
        return site.charge_point_count  # type: ignore[attr-defined]


class ConnectorInline(LabelledTabularInline):
    model = Connector
    extra = 0
    fields = ["connector_id", "connector_type", "max_power_kw", "status", "error_code", "status_at"]
    # Status comes from the charger's StatusNotifications, never from staff.
    readonly_fields = ["status", "error_code", "status_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connector]:
        # Each row is titled by its connector's name, which is its charger's id.
        return super().get_queryset(request).select_related("charge_point")


class ChargePointForm(forms.ModelForm):
    new_password = forms.CharField(
        label=_("New password"),
        required=False,
        min_length=MIN_PASSWORD_LENGTH,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("HTTP Basic auth password (AuthorizationKey); empty keeps the current one."),
    )

    class Meta:
        model = ChargePoint
        fields = [
            "charge_point_id",
            "site",
            "registration_status",
            "security_profile",
            "allow_unauthenticated",
            "heartbeat_interval",
            "phases",
            "first_phase",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Set before the model's own checks run (ChargePoint.clean: an accepted charger
        # needs a password); the form saves it with the rest.
        if cleaned.get("new_password"):
            self.instance.set_password(cleaned["new_password"])
        return cleaned


class ChargePointAddForm(ChargePointForm):
    """A new charger comes with a generated password, shown once, to copy into it."""

    new_password = forms.CharField(
        label=_("Password"),
        required=False,
        min_length=MIN_PASSWORD_LENGTH,
        initial=generate_password,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 40}),
        help_text=_(
            "HTTP Basic auth password (AuthorizationKey), generated for you: copy it into the "
            "charger's configuration now, it is stored only as a hash."
        ),
    )


class ChargePointChangeList(ChangeList):
    """The charger list: each row shows its connectors' statuses, read for the whole page
    in one query (in the list only: the charger's page reads them in its inline)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        return super().get_queryset(request, exclude_parameters).prefetch_related("connectors")


@admin.register(ChargePoint)
class ChargePointAdmin(WithoutNavSidebar, SendsCommands, admin.ModelAdmin):
    form = ChargePointForm
    # Fits 1366 px: the connection in one column, the connectors' statuses in another.
    list_display = [
        "charge_point_id",
        "site",
        "connection",
        "connector_statuses",
        "registration_status",
        "vendor_model",
        "firmware_version",
        "local_list_in_sync",
    ]
    list_filter = [
        ConnectionFilter,
        "registration_status",
        "security_profile",
        "allow_unauthenticated",
        "site",
        ("vendor", BlankValuesFilter),
        ("protocol", BlankValuesFilter),
    ]
    search_fields = ["charge_point_id", "serial_number", "vendor", "model", "site__name"]
    inlines = [ConnectorInline]
    readonly_fields = [
        "vendor",
        "model",
        "serial_number",
        "charge_box_serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "firmware_status",
        "firmware_status_at",
        "diagnostics_status",
        "diagnostics_status_at",
        "configuration",
        "protocol",
        "is_connected",
        "connected_at",
        "disconnected_at",
        "last_seen_at",
        "last_boot_at",
        "created_at",
        "guest_qr_codes",
        "local_list_state",
        "certificates",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "charge_point_id",
                    "site",
                    "registration_status",
                    "new_password",
                    "allow_unauthenticated",
                    "guest_qr_codes",
                ]
            },
        ),
        (_("Security"), {"fields": ["security_profile", "certificates"]}),
        (_("Smart charging: wiring"), {"fields": ["phases", "first_phase"]}),
        (_("Local authorization list"), {"fields": ["local_list_state"]}),
        (
            _("Reported by the charger"),
            {
                "fields": [
                    "vendor",
                    "model",
                    "serial_number",
                    "charge_box_serial_number",
                    "firmware_version",
                    "iccid",
                    "imsi",
                    "meter_type",
                    "meter_serial_number",
                    "firmware_status",
                    "firmware_status_at",
                    "diagnostics_status",
                    "diagnostics_status_at",
                    "configuration",
                ]
            },
        ),
        (
            _("Connection"),
            {
                "fields": [
                    "protocol",
                    "heartbeat_interval",
                    "is_connected",
                    "connected_at",
                    "disconnected_at",
                    "last_seen_at",
                    "last_boot_at",
                    "created_at",
                ]
            },
        ),
    ]
    actions = [
        "approve_pending",
        "reset",
        "unlock_connector",
        "change_availability",
        "remote_start",
        "get_configuration",
        "change_configuration",
        "trigger_message",
        "get_composite_schedule",
        "request_new_certificate",
        "install_root_certificate",
        "refresh_installed_certificates",
        "print_guest_qr_codes",
        export_csv,
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChargePoint]:
        # The site and the local list's state, for the list's rows and the page, in the
        # charger's own query (a queryset that joins makes Django skip list_select_related).
        return super().get_queryset(request).select_related("site", "local_list")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ChargePointChangeList

    @admin.display(description=_("local list in sync"), boolean=True)
    def local_list_in_sync(self, charge_point: ChargePoint) -> bool | None:
        """Empty for a charger whose list ChargeHub does not keep."""
        state = getattr(charge_point, "local_list", None)
        return None if state is None else state.in_sync

    @admin.display(description=_("on the charger"))
    def local_list_state(self, charge_point: ChargePoint) -> str:
        state = getattr(charge_point, "local_list", None)
        if state is None:
            return gettext("No list kept for this charger.")
        return gettext(
            "%(in_sync)s: version %(version)s sent, %(reported)s reported by the charger; "
            "%(count)d entries; last sync %(synced)s: %(result)s"
        ) % {
            "in_sync": gettext("In sync") if state.in_sync else gettext("Not in sync"),
            "version": state.version,
            "reported": "—" if state.charger_version is None else state.charger_version,
            "count": len(state.entries),
            "synced": short_time(state.synced_at) if state.synced_at else "—",
            "result": state.last_result or "—",
        }

    @admin.display(description=_("certificates"))
    def certificates(self, charge_point: ChargePoint) -> str:
        """Links to the charger's certificates and the roots it reported (whitepaper)."""
        if charge_point.pk is None:
            return "-"
        query = urlencode({"charge_point__id__exact": charge_point.pk})
        own = reverse("admin:stations_chargercertificate_changelist") + "?" + query
        roots = reverse("admin:stations_installedcertificate_changelist") + "?" + query
        newest = charge_point.certificates.filter(revoked_at__isnull=True).order_by("-not_after")
        valid_until = newest.values_list("not_after", flat=True).first()
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            own,
            gettext("Own certificate valid until %(date)s") % {"date": short_time(valid_until)}
            if valid_until
            else gettext("No certificate of its own"),
            roots,
            gettext("Installed root certificates"),
        )

    @admin.display(description=_("connection"), ordering="-last_seen_at")
    def connection(self, charge_point: ChargePoint) -> str:
        if charge_point.is_online():
            return gettext("Online")
        if charge_point.connected_at is None:
            return gettext("Never connected")
        since = charge_point.disconnected_at or charge_point.last_seen_at
        if since is None:
            return gettext("Offline")
        return gettext("Offline since %(time)s") % {"time": short_time(since)}

    @admin.display(description=_("connectors"))
    def connector_statuses(self, charge_point: ChargePoint) -> str:
        return format_html_join(
            mark_safe("<br>"),
            "#{} {}{}",
            (
                (
                    connector.connector_id,
                    connector.get_status_display(),
                    gettext(" since %(time)s") % {"time": short_time(connector.status_at)}
                    if connector.status_at
                    else "",
                )
                for connector in charge_point.connectors.all()
                if connector.connector_id
            ),
        )

    @admin.display(description=_("vendor / model"), ordering="vendor")
    def vendor_model(self, charge_point: ChargePoint) -> str:
        return " / ".join(part for part in (charge_point.vendor, charge_point.model) if part)

    # The QR code page belongs to billing (guest payment at the charger): it is linked
    # by its URL name only, so that stations does not import billing.

    @admin.display(description=_("guest QR codes"))
    def guest_qr_codes(self, charge_point: ChargePoint) -> str:
        if charge_point.pk is None:
            return "-"
        return format_html(
            '<a href="{}?{}">{}</a>',
            reverse("admin:billing_guestpayment_qr_codes"),
            urlencode({"charge_point": charge_point.pk}),
            gettext("Print the QR codes of this charger's connectors"),
        )

    @admin.action(description=_("Print guest QR codes"))
    def print_guest_qr_codes(
        self, request: HttpRequest, queryset: QuerySet[ChargePoint]
    ) -> HttpResponseRedirect:
        query = urlencode({"charge_point": list(queryset.values_list("pk", flat=True))}, doseq=True)
        return HttpResponseRedirect(f"{reverse('admin:billing_guestpayment_qr_codes')}?{query}")

    def get_form(
        self, request: HttpRequest, obj: ChargePoint | None = None, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ChargePointAddForm
        return super().get_form(request, obj, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: ChargePoint, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # Shown once: the password is kept only as a hash from now on.
            url = operations.connection_url(
                obj.charge_point_id, request.get_host(), request.is_secure()
            )
            password = form.cleaned_data.get("new_password")
            messages.info(
                request,
                gettext(
                    "Configure the charger with the URL %(url)s (OCPP 1.6-J) and HTTP Basic "
                    "auth: user %(id)s, password %(password)s. Copy the password now: it is "
                    "not shown again."
                )
                % {"url": url, "id": obj.charge_point_id, "password": password or "-"},
            )
        if obj.allow_unauthenticated:
            messages.warning(request, unauthenticated_warning(obj))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ChargePoint | None = None,
    ) -> Any:
        # The charger the page already loaded: no second query for the warning.
        if request.method == "GET" and obj is not None and obj.allow_unauthenticated:
            messages.warning(request, unauthenticated_warning(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description=_("Approve selected pending charge points"), permissions=["change"])
    def approve_pending(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> None:
        approved, without_password = operations.approve(queryset)
        for charge_point_id in without_password:
            messages.error(
                request,
                gettext(
                    "%(id)s was not approved: it has no password. Open it, set a password "
                    "(and configure the charger with it), then accept it."
                )
                % {"id": charge_point_id},
            )
        messages.success(
            request, gettext("%(count)d charge point(s) approved.") % {"count": approved}
        )

    def _command_with_form(
        self,
        request: HttpRequest,
        queryset: QuerySet[ChargePoint],
        form_class: type[forms.Form],
        title: str,
        operation: str,
        fields: list[str],
    ) -> TemplateResponse | HttpResponseRedirect | None:
        """Ask for the command's parameters, then send it to each selected charger.

        `operation` names the rule in stations/operations.py (batches.OPERATIONS), called
        as operation(charge_point_id, *fields' values, issued_by=, source=).
        """
        form = command_form_page(self, request, queryset, form_class, title)
        if isinstance(form, TemplateResponse):
            return form
        arguments = [form.cleaned_data[field] for field in fields]
        return self._send_to_selected(request, queryset, operation, title, arguments)

    def _send_to_selected(
        self,
        request: HttpRequest,
        queryset: QuerySet[ChargePoint],
        operation: str,
        title: str,
        arguments: list[Any],
    ) -> HttpResponseRedirect | None:
        """One charger: sent now, its answer shown as a message. More: a batch run in the
        background, in parallel, and its live progress page (stations/batches.py)."""
        charge_points = list(queryset)
        if len(charge_points) > 1:
            batch = batches.start(operation, title, charge_points, arguments, request.user)
            transaction.on_commit(lambda: tasks.run_command_batch.delay(batch.pk))
            return HttpResponseRedirect(
                reverse("admin:stations_commandbatch_change", args=[batch.pk])
            )
        for charge_point in charge_points:
            send_and_report(
                request,
                charge_point.charge_point_id,
                lambda cp=charge_point: batches.OPERATIONS[operation](
                    cp.charge_point_id, *arguments, issued_by=request.user, source="admin"
                ),
                batches.describe,
            )
        return None

    @admin.action(description=_("Reset…"), permissions=["send_commands"])
    def reset(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._command_with_form(
            request, queryset, ResetForm, gettext("Reset"), "reset", ["type"]
        )

    @admin.action(description=_("Unlock connector…"), permissions=["send_commands"])
    def unlock_connector(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._command_with_form(
            request,
            queryset,
            UnlockConnectorForm,
            gettext("Unlock connector"),
            "unlock_connector",
            ["connector_id"],
        )

    @admin.action(description=_("Change availability…"), permissions=["send_commands"])
    def change_availability(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._command_with_form(
            request,
            queryset,
            ChangeAvailabilityForm,
            gettext("Change availability"),
            "change_availability",
            ["connector_id", "type"],
        )

    @admin.action(description=_("Remote start…"), permissions=["send_commands"])
    def remote_start(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._command_with_form(
            request,
            queryset,
            RemoteStartForm,
            gettext("Remote start"),
            "remote_start",
            ["id_tag", "connector_id"],
        )

    @admin.action(description=_("Read configuration"), permissions=["send_commands"])
    def get_configuration(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._send_to_selected(
            request, queryset, "refresh_configuration", gettext("Read configuration"), []
        )

    @admin.action(description=_("Change configuration…"), permissions=["send_commands"])
    def change_configuration(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._command_with_form(
            request,
            queryset,
            ChangeConfigurationForm,
            gettext("Change configuration"),
            "change_configuration",
            ["key", "value"],
        )

    @admin.action(description=_("Read composite schedule…"), permissions=["send_commands"])
    def get_composite_schedule(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        """Smart charging: what the charger will draw, all its profiles combined."""
        return self._command_with_form(
            request,
            queryset,
            CompositeScheduleForm,
            gettext("Read composite schedule"),
            "get_composite_schedule",
            ["connector_id", "duration"],
        )

    @admin.action(description=_("Trigger message…"), permissions=["send_commands"])
    def trigger_message(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        return self._command_with_form(
            request,
            queryset,
            TriggerMessageForm,
            gettext("Trigger message"),
            "trigger_message",
            ["requested_message", "connector_id"],
        )

    @admin.action(description=_("Ask for a new certificate"), permissions=["send_commands"])
    def request_new_certificate(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> Any:
        """ExtendedTriggerMessage SignChargePointCertificate: the charger sends a CSR."""
        return self._send_to_selected(
            request,
            queryset,
            "request_new_certificate",
            gettext("Ask for a new certificate"),
            [],
        )

    @admin.action(description=_("Install a root certificate…"), permissions=["send_commands"])
    def install_root_certificate(
        self, request: HttpRequest, queryset: QuerySet[ChargePoint]
    ) -> Any:
        return self._command_with_form(
            request,
            queryset,
            InstallCertificateForm,
            gettext("Install a root certificate"),
            "install_root_certificate",
            ["certificate_type", "certificate"],
        )

    @admin.action(description=_("Read installed certificates"), permissions=["send_commands"])
    def refresh_installed_certificates(
        self, request: HttpRequest, queryset: QuerySet[ChargePoint]
    ) -> Any:
        return self._send_to_selected(
            request,
            queryset,
            "refresh_installed_certificates",
            gettext("Read installed certificates"),
            [],
        )


# --- Certificates (OCPP 1.6 security whitepaper) --------------------------------------------


class ExpiryFilter(admin.SimpleListFilter):
    title = _("expiry")
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("expiring", _("Expiring soon (renewal due)")), ("expired", _("Expired"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ChargerCertificate]
    ) -> QuerySet[ChargerCertificate]:
        if self.value() == "expiring":
            return queryset.filter(pk__in=certificates.expiring().values("pk"))
        if self.value() == "expired":
            return queryset.filter(not_after__lt=timezone.now())
        return queryset


@admin.register(ChargerCertificate)
class ChargerCertificateAdmin(SendsCommands, ReadOnlyAdmin):
    """Chargers' certificates signed by the charging-station CA (shown above the list);
    issued from the chargers' CSRs or by `manage.py charger_ca issue`. Revoking one
    refuses security profile 3 connections made with it."""

    list_display = [
        "charge_point",
        "serial_number",
        "not_after",
        "installed_at",
        "renewal_requested_at",
        "revoked_at",
    ]
    list_filter = [ExpiryFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["charge_point__charge_point_id", "serial_number", "subject"]
    list_select_related = ["charge_point"]
    fields = [
        "charge_point",
        "serial_number",
        "subject",
        "not_before",
        "not_after",
        "issued_at",
        "installed_at",
        "renewal_requested_at",
        "revoked_at",
        "pem",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        ca = certificates.ca_certificate()
        context = {
            **(extra_context or {}),
            "ca": ca
            and {
                "subject": ca.subject.rfc4514_string(),
                "not_after": ca.not_valid_after_utc,
                "fingerprint": certificates.fingerprint(ca),
            },
        }
        return super().changelist_view(request, context)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("stations.change_chargercertificate")

    @admin.action(description=_("Revoke"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ChargerCertificate]) -> None:
        revoked = certificates.revoke(queryset)
        messages.success(request, gettext("%(count)d certificate(s) revoked.") % {"count": revoked})


@admin.register(InstalledCertificate)
class InstalledCertificateAdmin(SendsCommands, ReadOnlyAdmin):
    """Root certificates chargers reported (Read installed certificates); deleted from a
    charger with DeleteCertificate."""

    list_display = ["charge_point", "certificate_type", "serial_number", "reported_at"]
    list_filter = ["certificate_type"]
    search_fields = ["charge_point__charge_point_id", "serial_number"]
    list_select_related = ["charge_point"]
    actions = ["delete_from_charger"]

    @admin.action(description=_("Delete from the charger"), permissions=["send_commands"])
    def delete_from_charger(
        self, request: HttpRequest, queryset: QuerySet[InstalledCertificate]
    ) -> None:
        for installed in queryset.select_related("charge_point"):
            send_and_report(
                request,
                f"{installed.charge_point.charge_point_id} {installed.serial_number}",
                lambda i=installed: operations.delete_installed_certificate(
                    i, issued_by=request.user, source="admin"
                ),
            )


# --- Sessions, meter values, statuses -------------------------------------------------------


def with_seconds(moment: datetime | None) -> str:
    """A time as staff compare it with the message log: the admin's zone, to the second."""
    if moment is None:
        return "-"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


SAMPLE_COLUMNS = [
    _("time"),
    _("measurand"),
    _("phase"),
    _("context"),
    _("value"),
    _("unit"),
    _("clock suspect"),
]


def active_elsewhere(id_tag: str) -> Exists:
    """Whether this card has an active session on another charger: one card cannot be
    in two places, so it was copied, shared or is being misused."""
    return Exists(
        ChargingSession.objects.filter(id_tag=id_tag, status=ChargingSession.Status.ACTIVE).exclude(
            charge_point=OuterRef("charge_point")
        )
    )


@admin.register(ChargingSession)
class ChargingSessionAdmin(WithoutNavSidebar, SendsCommands, ReadOnlyAdmin):
    list_display = [
        "id",
        "charge_point",
        "connector_number",
        "id_tag",
        "status",
        "started_at",
        "stopped_at",
        "energy_wh",
        "stop_reason",
        "closed_by",
        "card_elsewhere",
    ]
    list_filter = ["status", "stop_reason", "clock_suspect"]
    search_fields = ["=id", "id_tag", "charge_point__charge_point_id"]
    date_hierarchy = "started_at"
    actions = ["remote_stop", export_csv]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("charge_point", "connector"),
                    ("id_tag", "id_token", "card_elsewhere"),
                    ("status", "closed_by", "stop_reason", "stop_id_tag"),
                    ("started", "stopped"),
                    ("meter_start_wh", "meter_stop_wh", "energy_wh"),
                    "reservation_id",
                    "clock_suspect",
                    "ocpp_frames",
                ]
            },
        ),
        (_("Meter values"), {"fields": ["meter_values"]}),
    ]
    readonly_fields = ["started", "stopped", "card_elsewhere", "ocpp_frames", "meter_values"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChargingSession]:
        active = Q(status=ChargingSession.Status.ACTIVE)
        return (
            super()
            .get_queryset(request)
            # The page names the charger, the connector (by its charger) and the card, and
            # prices by the site's zone and the card's owner: in the page's one query
            # instead of seven; the list's rows join the same (list_select_related would
            # be skipped: Django keeps a queryset's own joins).
            .select_related("charge_point", "connector__charge_point__site", "id_token__owner")
            .annotate(
                elsewhere=Case(
                    When(active, then=active_elsewhere(OuterRef("id_tag"))),
                    default=False,
                    output_field=BooleanField(),
                )
            )
        )

    @admin.display(description=_("connector"), ordering="connector__connector_id")
    def connector_number(self, session: ChargingSession) -> int:
        return session.connector.connector_id

    @admin.display(description=_("started at"), ordering="started_at")
    def started(self, session: ChargingSession) -> str:
        return with_seconds(session.started_at)

    @admin.display(description=_("stopped at"), ordering="stopped_at")
    def stopped(self, session: ChargingSession) -> str:
        return with_seconds(session.stopped_at)

    @admin.display(description=_("card active on another charger"), boolean=True)
    def card_elsewhere(self, session: ChargingSession) -> bool:
        return bool(getattr(session, "elsewhere", False))

    @admin.display(description=_("OCPP messages"))
    def ocpp_frames(self, session: ChargingSession) -> str:
        """The charger's frames while the session ran (a minute either side)."""
        margin = timedelta(minutes=1)
        query = {
            "charge_point_id": session.charge_point.charge_point_id,
            "created_at__gte": (session.started_at - margin).isoformat(),
        }
        if session.stopped_at:
            query["created_at__lte"] = (session.stopped_at + margin).isoformat()
        url = reverse("admin:stations_ocppmessage_changelist") + "?" + urlencode(query)
        return format_html('<a href="{}">{}</a>', url, gettext("The charger's messages"))

    @admin.display(description=_("meter values"))
    def meter_values(self, session: ChargingSession) -> str:
        """The session's samples as a plain table, in one query: an inline drew a
        read-only form per sample (300 ms of CPU for a 90-minute session's 360 samples,
        bench/big_tables.py), and a long session has thousands. Built as one string:
        format_html per row was a third of the page's own CPU (docs/performance.md)."""
        rows = session.meter_samples.order_by("timestamp", "id").values_list(
            "timestamp", "measurand", "phase", "context", "value", "unit", "clock_suspect"
        )
        yes = escape(gettext("yes"))
        # Times as the session's above, to compare with the message log; what the
        # charger sent is escaped (stdlib's escape: Django's takes 5 times as long).
        body = "".join(
            f"<tr><td>{with_seconds(at)}</td><td>{escape(measurand)}</td><td>{escape(phase)}"
            f"</td><td>{escape(context)}</td><td>{escape(value)}</td><td>{escape(unit)}</td>"
            f"<td>{yes if suspect else ''}</td></tr>"
            for at, measurand, phase, context, value, unit, suspect in rows
        )
        if not body:
            return gettext("The charger has sent no meter values for this session.")
        head = format_html_join("", "<th>{}</th>", ((column,) for column in SAMPLE_COLUMNS))
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, mark_safe(body)
        )

    @admin.action(description=_("Remote stop"), permissions=["send_commands"])
    def remote_stop(self, request: HttpRequest, queryset: QuerySet[ChargingSession]) -> None:
        for session in queryset.select_related("charge_point"):
            send_and_report(
                request,
                f"{session.charge_point.charge_point_id} #{session.pk}",
                lambda s=session: operations.remote_stop(s, issued_by=request.user, source="admin"),
            )


class OcppValuesFilter(admin.SimpleListFilter):
    """A filter of OCPP's own values of a field: admin's default lists the values found,
    by a DISTINCT over every sample."""

    values: list[str] = []

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in self.values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class MeasurandFilter(OcppValuesFilter):
    title = _("measurand")
    parameter_name = "measurand"
    values = [measurand.value for measurand in Measurand]  # OCPP 1.6 §7.31


class ReadingContextFilter(OcppValuesFilter):
    title = _("context")
    parameter_name = "context"
    values = [context.value for context in ReadingContext]  # OCPP 1.6 §7.47


@admin.register(MeterSample)
class MeterSampleAdmin(HugeTableAdmin, ReadOnlyAdmin):
    list_display = [
        "timestamp",
        "charge_point",
        "connector_id",
        "session",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
    ]
    list_filter = [MeasurandFilter, ReadingContextFilter]
    # Newest first by the key's index; sorting tens of millions of samples by a column
    # (time has no index of its own) would read them all.
    ordering = ["-id"]
    sortable_by: list[str] = []
    search_fields = ["charge_point__charge_point_id", "session__id"]
    search_help_text = _("A session's number or a charger's id, exactly.")
    list_select_related = ["charge_point", "session__connector__charge_point"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[MeterSample], search_term: str
    ) -> tuple[QuerySet[MeterSample], bool]:
        """A session's samples for a number, else a charger's: exact matches through an
        index (a substring search would read all the samples)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit() and len(term) <= 18:  # "²" is a digit too
            return queryset.filter(session_id=int(term)), False
        return queryset.filter(charge_point__charge_point_id=term), False


@admin.register(StatusEvent)
class StatusEventAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "connector_label", "status", "error_code", "info", "received_at"]
    list_filter = ["status", "error_code"]
    search_fields = ["connector__charge_point__charge_point_id", "vendor_error_code"]
    list_select_related = ["connector__charge_point"]
    show_full_result_count = False

    @admin.display(description=_("connector"), ordering="connector")
    def connector_label(self, event: StatusEvent) -> str:
        return connector_label(event.connector)


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """Every SecurityEventNotification as the charger sent it; the ones someone must look
    at also open a ticket (operations/faults.py TICKETED_SECURITY_EVENTS)."""

    list_display = ["received_at", "charge_point", "type", "tech_info", "timestamp"]
    list_filter = ["type"]
    search_fields = ["charge_point__charge_point_id", "type", "tech_info"]
    list_select_related = ["charge_point"]
    show_full_result_count = False


@admin.register(Reservation)
class ReservationAdmin(SendsCommands, ReadOnlyAdmin):
    # Made with stations.operations.reserve_now so that the charger holds them too.
    list_display = ["id", "charge_point", "connector_id", "id_tag", "expires_at", "status"]
    list_filter = ["status"]
    search_fields = ["=id", "id_tag", "charge_point__charge_point_id"]
    list_select_related = ["charge_point"]
    actions = ["cancel"]

    @admin.action(description=_("Cancel reservation"), permissions=["send_commands"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        for reservation in queryset.select_related("charge_point"):
            send_and_report(
                request,
                f"{reservation.charge_point.charge_point_id} #{reservation.pk}",
                lambda r=reservation: operations.cancel_reservation(
                    r, issued_by=request.user, source="admin"
                ),
            )


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    # Made and cancelled by drivers (charging/bookings.py), which keeps the slot rules
    # and the charger's hold in step; staff look.
    list_display = [
        "id",
        "connector",
        "user",
        "starts_at",
        "ends_at",
        "status",
        "reservation",
        "fee_charged",
    ]
    list_filter = ["status", "starts_at"]
    search_fields = ["=id", "user__email", "connector__charge_point__charge_point_id"]
    list_select_related = ["connector__charge_point", "user", "reservation"]
    raw_id_fields = ["connector", "user", "id_token", "reservation"]
    date_hierarchy = "starts_at"


# --- Logs -----------------------------------------------------------------------------------

CALL_AND_ANSWER_WITHIN = timedelta(days=1)


@admin.register(OcppMessage)
class OcppMessageAdmin(HugeTableAdmin, ReadOnlyAdmin):
    list_display = [
        "time",
        "charge_point_id",
        "direction",
        "message_type",
        "action",
        "call_and_answer",
    ]
    list_filter = ["direction", "message_type"]
    search_fields = ["charge_point_id", "action", "unique_id"]
    search_help_text = _(
        "A charger's id or an OCPP action, exactly; a message id once the list shows one charger."
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OcppMessage], search_term: str
    ) -> tuple[QuerySet[OcppMessage], bool]:
        """The term matched exactly, as what it is: a charger's id, else an action, else
        (in one charger's list: ids are the charger's, OCPP-J 1.6 §4.1.4) a message id.
        Each walks an index; a substring search read the whole log (tens of millions of
        rows) on every search."""
        term = search_term.strip()
        if not term:
            return queryset, False
        for field in ("charge_point_id", "action"):
            if OcppMessage.objects.filter(**{field: term}).exists():
                return queryset.filter(**{field: term}), False
        if "charge_point_id" in request.GET:
            return queryset.filter(unique_id=term), False
        return queryset.none(), False

    # The log is read from the read replica when there is one (DATABASE_REPLICA_URL).
    @reads_from_replica
    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return super().changelist_view(request, extra_context)

    @reads_from_replica
    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("time"), ordering="created_at")
    def time(self, message: OcppMessage) -> str:
        # Milliseconds: a call and its answer are often within the same second.
        return timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    @admin.display(description=_("message id"))
    def call_and_answer(self, message: OcppMessage) -> str:
        """The message id, linking to the call and its answer (they share it, §4.1.4)."""
        if not message.unique_id:
            return ""
        url = reverse("admin:stations_ocppmessage_changelist")
        # Within a day either side: an answer comes in seconds, and a charger may use
        # an id again later (after a reboot, say); the bounds also keep the query to
        # the one or two months around it.
        query = urlencode(
            {
                "charge_point_id": message.charge_point_id,
                "unique_id": message.unique_id,
                "created_at__gte": (message.created_at - CALL_AND_ANSWER_WITHIN).isoformat(),
                "created_at__lte": (message.created_at + CALL_AND_ANSWER_WITHIN).isoformat(),
            }
        )
        return format_html('<a href="{}?{}">{}</a>', url, query, message.unique_id)


@admin.register(ChargerCommand)
class ChargerCommandAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "charge_point",
        "action",
        "status",
        "answer",
        "issued_by",
        "source",
        "answered_at",
    ]
    list_filter = ["status", "action", "source", "charge_point__site"]
    search_fields = ["charge_point__charge_point_id", "action", "unique_id", "issued_by__email"]
    list_select_related = ["charge_point", "issued_by"]
    actions = [export_csv]

    @admin.display(description=_("answer"))
    def answer(self, command: ChargerCommand) -> str:
        if command.response is not None:
            return str(command.response.get("status", command.response))
        return command.error


@admin.register(RefusedConnection)
class RefusedConnectionAdmin(ReadOnlyAdmin):
    """Who knocked and was turned away: unknown ids, wrong passwords, no OCPP subprotocol."""

    list_display = [
        "charge_point_id",
        "address",
        "reason",
        "count",
        "first_at",
        "last_at",
        "register_link",
    ]
    list_filter = ["reason"]
    search_fields = ["charge_point_id", "address"]

    @admin.display(description=_("register"))
    def register_link(self, refused: RefusedConnection) -> str:
        # Only an id the charger could connect with, and only one not registered yet.
        if refused.reason != UNKNOWN_CHARGE_POINT:
            return ""
        url = reverse("admin:stations_chargepoint_add")
        query = urlencode({"charge_point_id": refused.charge_point_id})
        return format_html('<a href="{}?{}">{}</a>', url, query, gettext("Register this charger"))


@admin.register(CommandBatch)
class CommandBatchAdmin(LiveFigures, ReadOnlyAdmin):
    """Commands sent to many chargers: each one's progress, live while it runs."""

    list_display = ["title", "created_at", "issued_by", "summary", "finished_at"]
    list_select_related = ["issued_by"]
    change_form_template = "admin/stations/commandbatch/progress.html"

    live_path = "progress"

    def live_figures(self, batch: CommandBatch) -> dict[str, Any]:
        return batches.progress(batch)

    @admin.display(description=_("progress"))
    def summary(self, batch: CommandBatch) -> str:
        counts = batches.progress(batch)["counts"]
        return ", ".join(f"{row['label']}: {row['count']}" for row in counts if row["count"])

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        batch = self.get_object(request, object_id)
        extra = {"progress": batches.progress(batch) if batch else None}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(LocalListEntry)
class LocalListEntryAdmin(admin.ModelAdmin):
    """Tokens on local authorization lists: a site's (all its chargers) or one charger's;
    what each charger is sent follows from them (stations/local_list.py)."""

    list_display = ["token", "site", "charge_point"]
    list_filter = ["site"]
    search_fields = ["token__uid", "token__name", "site__name", "charge_point__charge_point_id"]
    autocomplete_fields = ["token", "site", "charge_point"]
    list_select_related = ["token", "site", "charge_point"]


@admin.register(FirmwareStatusEvent)
class FirmwareStatusEventAdmin(ReadOnlyAdmin):
    """Every firmware status a charger reported: its full history, newest first."""

    list_display = ["charge_point", "status", "request_id", "received_at"]
    list_filter = ["status"]
    search_fields = ["charge_point__charge_point_id"]
    list_select_related = ["charge_point"]


@admin.register(DiagnosticsStatusEvent)
class DiagnosticsStatusEventAdmin(ReadOnlyAdmin):
    """Every diagnostics and log upload status a charger reported, newest first."""

    list_display = ["charge_point", "kind", "status", "request_id", "received_at"]
    list_filter = ["kind", "status"]
    search_fields = ["charge_point__charge_point_id"]
    list_select_related = ["charge_point"]
