"""Emergency stop in admin.

The Site admin of stations with two actions added (stations never imports operations,
so the site's admin is registered again as a subclass): "Emergency stop…" asks for a
reason on a page that names each site and how many connectors it stops; "Release…" asks
for confirmation. Each charger's answer is shown, and kept in the EmergencyStop audit
(read-only).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chargehub.admin_fields import ReadOnlyAdmin
from operations import emergency
from operations.models import EmergencyStop
from stations.admin import SiteAdmin as StationsSiteAdmin
from stations.models import Site


class EmergencyStopForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the audit with your name and the time."),
    )


def _results_table(stop: EmergencyStop) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (line.charge_point_id, line.stop, line.availability, line.release)
            for line in emergency.describe(stop)
        ),
    )
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        gettext("Charger"),
        gettext("Sessions stopped"),
        gettext("Inoperative"),
        gettext("Released"),
        rows,
    )


def _report(request: HttpRequest, stop: EmergencyStop, *, released: bool) -> None:
    """One message per charger: what it answered, or why it did not."""
    lines = emergency.describe(stop)
    if not lines:
        messages.warning(request, gettext("%(site)s has no chargers.") % {"site": stop.site})
    for line in lines:
        if released:
            done, text = line.release_done, line.release
        else:
            done, text = line.availability_done, line.availability
            if line.stop:
                text = f"{text} ({line.stop})"
        level = messages.SUCCESS if done else messages.WARNING
        messages.add_message(request, level, f"{stop.site} · {line.charge_point_id}: {text}")


admin.site.unregister(Site)


@admin.register(Site)
class SiteAdmin(StationsSiteAdmin):
    """Stations' Site admin, plus the emergency stop and its release."""

    list_display = [*StationsSiteAdmin.list_display, "emergency_state"]
    actions = ["emergency_stop", "emergency_release"]

    def has_stop_site_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("operations.stop_site")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        in_force = EmergencyStop.objects.filter(site=OuterRef("pk"), released_at__isnull=True)
        return super().get_queryset(request).annotate(emergency_stopped=Exists(in_force))

    @admin.display(description=_("emergency stop"), boolean=True, ordering="emergency_stopped")
    def emergency_state(self, site: Site) -> bool:
        return site.emergency_stopped  # type: ignore[attr-defined]

    def _confirmation(
        self,
        request: HttpRequest,
        sites: QuerySet[Site],
        *,
        title: str,
        form: forms.Form | None,
        button: str,
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/operations/emergency_stop.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "button": button,
                "sites": [(site, emergency.connector_count(site)) for site in sites],
                "queryset": sites,
                "action": request.POST["action"],
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Emergency stop…"), permissions=["stop_site"])
    def emergency_stop(self, request: HttpRequest, queryset: QuerySet[Site]) -> Any:
        """Stop every session and make every connector Inoperative, after a reason."""
        form = EmergencyStopForm(request.POST if request.POST.get("post") else None)
        if not (form.is_bound and form.is_valid()):
            return self._confirmation(
                request,
                queryset,
                title=gettext("Emergency stop"),
                form=form,
                button=gettext("Stop these sites now"),
            )
        for site in queryset:
            try:
                stop = emergency.stop_site(site, form.cleaned_data["reason"], request.user)
            except emergency.EmergencyStopRefused as refused:
                messages.error(request, f"{site}: {refused}")
                continue
            _report(request, stop, released=False)
        return None

    @admin.action(description=_("Release emergency stop…"), permissions=["stop_site"])
    def emergency_release(self, request: HttpRequest, queryset: QuerySet[Site]) -> Any:
        """Every connector Operative again, after confirmation."""
        if not request.POST.get("post"):
            return self._confirmation(
                request,
                queryset,
                title=gettext("Release emergency stop"),
                form=None,
                button=gettext("Release these sites"),
            )
        for site in queryset:
            try:
                stop = emergency.release_site(site, request.user)
            except emergency.EmergencyStopRefused as refused:
                messages.error(request, f"{site}: {refused}")
                continue
            _report(request, stop, released=True)
        return None


@admin.register(EmergencyStop)
class EmergencyStopAdmin(ReadOnlyAdmin):
    """The audit: who stopped which site when and why, who released it, and each
    charger's answers."""

    list_display = ["site", "started_at", "started_by", "reason", "released_at", "released_by"]
    list_filter = ["site"]
    list_select_related = ["site", "started_by", "released_by"]
    date_hierarchy = "started_at"
    fields = [
        "site",
        "reason",
        "started_by",
        "started_at",
        "released_by",
        "released_at",
        "charger_results",
    ]
    readonly_fields = fields

    @admin.display(description=_("each charger's answers"))
    def charger_results(self, stop: EmergencyStop) -> str:
        return _results_table(stop)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmergencyStop]:
        return super().get_queryset(request).select_related("site")
