"""Admin of fleet operations: firmware and campaigns (live progress), diagnostics uploads
(request, list, download), configuration baselines and the fleet's configuration table."""

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chargehub.admin_fields import LiveFigures
from fleet import campaigns, configuration, diagnostics, tasks
from fleet.models import (
    ConfigurationBaseline,
    DiagnosticsUpload,
    FirmwareCampaign,
    FirmwareImage,
    sha256_of,
)
from stations.admin import SendsCommands
from stations.models import ChargePoint, Site
from stations.ocpp import commands
from stations.operations import command_failure

# --- Firmware ----------------------------------------------------------------------------


class FirmwareImageForm(forms.ModelForm):
    class Meta:
        model = FirmwareImage
        fields = [
            "version",
            "charger_models",
            "file",
            "url",
            "sha256",
            "expires_at",
            "signing_certificate",
            "signature",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_at"].initial = timezone.now() + timedelta(
            days=settings.FLEET_FIRMWARE_LINK_DAYS
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload and hasattr(upload, "chunks") and "file" in self.changed_data:
            actual = sha256_of(upload)
            upload.seek(0)
            expected = (data.get("sha256") or "").strip().lower()
            if expected and expected != actual:
                self.add_error(
                    "sha256",
                    gettext("The file's SHA-256 is %(actual)s, not the one given.")
                    % {"actual": actual},
                )
            data["sha256"] = actual
            self.instance.size = upload.size
        return data


@admin.register(FirmwareImage)
class FirmwareImageAdmin(admin.ModelAdmin):
    """Firmware files: uploaded (hash checked, served at an unguessable expiring URL) or
    at a URL elsewhere."""

    form = FirmwareImageForm
    list_display = ["version", "charger_models", "size", "expires_at", "created_at"]
    search_fields = ["version", "charger_models"]
    readonly_fields = ["download_url", "size"]

    @admin.display(description=_("URL given to chargers"))
    def download_url(self, image: FirmwareImage) -> str:
        return campaigns.firmware_location(image) if image.pk else "-"


class FirmwareCampaignForm(forms.ModelForm):
    class Meta:
        model = FirmwareCampaign
        fields = [
            "name",
            "firmware",
            "site",
            "charger_model",
            "current_firmware",
            "charge_points",
            "wave_size",
            "wave_pause_minutes",
            "max_failure_percent",
            "only_in_maintenance_window",
            "signed",
        ]

    def clean(self) -> dict[str, Any]:
        """Firmware goes only to the models it is for: a model or an explicit charger of
        another model is refused here (a wrong image can leave a charger unusable)."""
        data = super().clean()
        firmware = data.get("firmware")
        if firmware is None:
            return data
        models = firmware.models_list
        names = {"models": ", ".join(models)}
        model = data.get("charger_model")
        if model and model not in models:
            self.add_error(
                "charger_model", gettext("This firmware is for %(models)s only.") % names
            )
        others = [
            cp.charge_point_id for cp in data.get("charge_points") or [] if cp.model not in models
        ]
        if others:
            self.add_error(
                "charge_points",
                gettext("%(chargers)s: not a model this firmware is for (%(models)s).")
                % {**names, "chargers": ", ".join(sorted(others))},
            )
        return data


@admin.register(FirmwareCampaign)
class FirmwareCampaignAdmin(LiveFigures, SendsCommands, admin.ModelAdmin):
    """Firmware sent in waves; a running campaign's page shows each charger live."""

    form = FirmwareCampaignForm
    list_display = ["name", "firmware", "status", "current_wave", "summary", "started_at"]
    list_filter = ["status"]
    autocomplete_fields = ["site", "charge_points"]
    actions = ["start_campaigns", "stop_campaigns"]
    change_form_template = "admin/fleet/firmwarecampaign/change_form.html"

    def get_readonly_fields(
        self, request: HttpRequest, obj: FirmwareCampaign | None = None
    ) -> list[str]:
        if obj is not None and obj.status != FirmwareCampaign.Status.DRAFT:
            # What a started campaign is cannot change under it.
            return [
                *FirmwareCampaignForm.Meta.fields,
                "status",
                "stop_reason",
                "started_by",
                "started_at",
            ]
        return ["status"]

    def save_model(
        self, request: HttpRequest, obj: FirmwareCampaign, form: Any, change: bool
    ) -> None:
        if obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    live_path = "progress"

    def live_figures(self, campaign: FirmwareCampaign) -> dict[str, Any]:
        return campaigns.progress(campaign)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        extra = {"progress": campaigns.progress(campaign) if campaign else None}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description=_("progress"))
    def summary(self, campaign: FirmwareCampaign) -> str:
        counts = campaigns.progress(campaign)["counts"]
        return ", ".join(f"{row['label']}: {row['count']}" for row in counts if row["count"])

    @admin.action(description=_("Start the selected campaigns"), permissions=["send_commands"])
    def start_campaigns(self, request: HttpRequest, queryset: QuerySet[FirmwareCampaign]) -> None:
        for campaign in queryset.filter(status=FirmwareCampaign.Status.DRAFT):
            if (reason := campaigns.cannot_start(campaign)) is not None:
                self.message_user(request, f"{campaign}: {reason}", messages.ERROR)
                continue
            count = campaigns.start(campaign, started_by=request.user)
            transaction.on_commit(lambda pk=campaign.pk: tasks.advance_campaign.delay(pk))
            self.message_user(
                request,
                gettext("%(campaign)s started for %(count)d chargers.")
                % {"campaign": campaign, "count": count},
            )

    @admin.action(description=_("Stop the selected campaigns"), permissions=["send_commands"])
    def stop_campaigns(self, request: HttpRequest, queryset: QuerySet[FirmwareCampaign]) -> None:
        stopped = sum(
            campaigns.stop(campaign, gettext("Stopped by %(user)s.") % {"user": request.user})
            for campaign in queryset
        )
        self.message_user(request, gettext("%(count)d campaigns stopped.") % {"count": stopped})


# --- Diagnostics and logs ----------------------------------------------------------------


class DiagnosticsRequestForm(forms.Form):
    charge_point = forms.ModelChoiceField(
        ChargePoint.objects.order_by("charge_point_id"), label=_("Charge point")
    )
    kind = forms.ChoiceField(choices=DiagnosticsUpload.Kind.choices, label=_("Kind"))


@admin.register(DiagnosticsUpload)
class DiagnosticsUploadAdmin(SendsCommands, admin.ModelAdmin):
    """What chargers uploaded, with download; 'Request diagnostics' asks one for them."""

    list_display = ["charge_point", "kind", "requested_at", "answer", "used_at", "size", "download"]
    list_filter = ["kind"]
    search_fields = ["charge_point__charge_point_id"]
    list_select_related = ["charge_point"]
    readonly_fields = [
        "charge_point",
        "kind",
        "requested_by",
        "requested_at",
        "expires_at",
        "answer",
        "used_at",
        "file_name",
        "size",
        "download",
        "status_history",
    ]
    exclude = ["file"]
    change_list_template = "admin/fleet/diagnosticsupload/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # asked for through "Request diagnostics", which sends the command

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "request/",
                self.admin_site.admin_view(self.request_view),
                name="fleet_diagnosticsupload_request",
            ),
            path(
                "<int:upload_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="fleet_diagnosticsupload_download",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("file"))
    def download(self, upload: DiagnosticsUpload) -> str:
        if not upload.file:
            return "-"
        url = reverse("admin:fleet_diagnosticsupload_download", args=[upload.pk])
        return format_html('<a href="{}">{}</a>', url, upload.file_name)

    @admin.display(description=_("status history"))
    def status_history(self, upload: DiagnosticsUpload) -> str:
        events = diagnostics.history(upload)
        return (
            format_html_join(
                "", "<div>{} {}</div>", ((e.received_at.isoformat(), e.status) for e in events)
            )
            or "-"
        )

    def download_view(self, request: HttpRequest, upload_id: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        upload = get_object_or_404(DiagnosticsUpload, pk=upload_id)
        if not upload.file:
            raise PermissionDenied
        return FileResponse(upload.file.open("rb"), as_attachment=True, filename=upload.file_name)

    def request_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_send_commands_permission(request):
            raise PermissionDenied
        form = DiagnosticsRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            charge_point = form.cleaned_data["charge_point"]
            try:
                diagnostics.request(charge_point, form.cleaned_data["kind"], issued_by=request.user)
            except commands.CommandError as error:
                self.message_user(request, command_failure(error).message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(charger)s was asked for its upload.")
                    % {"charger": charge_point.charge_point_id},
                )
            return HttpResponseRedirect(reverse("admin:fleet_diagnosticsupload_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Request diagnostics"),
            "form": form,
        }
        return TemplateResponse(request, "admin/fleet/diagnosticsupload/request.html", context)


# --- Configuration -----------------------------------------------------------------------


@admin.register(ConfigurationBaseline)
class ConfigurationBaselineAdmin(admin.ModelAdmin):
    """The configuration each charger model should have; 'Fleet configuration' compares."""

    list_display = ["charger_model", "key", "value"]
    list_filter = ["charger_model"]
    search_fields = ["charger_model", "key"]
    change_list_template = "admin/fleet/configurationbaseline/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "fleet/",
                self.admin_site.admin_view(self.fleet_view),
                name="fleet_configurationbaseline_fleet",
            ),
            *super().get_urls(),
        ]

    def fleet_view(self, request: HttpRequest) -> HttpResponse:
        """Every charger of a model, a column per key, cells off the baseline marked."""
        if not request.user.has_perm("stations.view_chargepoint"):
            raise PermissionDenied
        models = configuration.charger_models()
        chosen = request.GET.get("model") or (models[0] if models else "")
        site = request.GET.get("site") or ""
        site_id = int(site) if site.isdigit() else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Fleet configuration"),
            "models": models,
            "chosen": chosen,
            "sites": Site.objects.order_by("name"),
            "site_id": site_id,
            "table": configuration.table(chosen, site_id) if chosen else None,
        }
        return TemplateResponse(request, "admin/fleet/configurationbaseline/fleet.html", context)
