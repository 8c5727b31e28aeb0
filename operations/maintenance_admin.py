"""Admin of maintenance windows (operations/maintenance.py) and inspection schedules."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from operations import inspections
from operations.models import InspectionSchedule, MaintenanceWindow, Ticket, default_checklist

# --- Maintenance windows (operations/maintenance.py) -------------------------------------


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Planned maintenance: the beat task makes the chargers Inoperative at the start and
    Operative after the end. Once applied, what it covers and when it started are fixed,
    and it cannot be deleted until released (set its end to end it early)."""

    list_display = [
        "__str__",
        "starts_at",
        "ends_at",
        "reason",
        "state",
        "applied_at",
        "released_at",
    ]
    list_filter = ["site"]
    search_fields = ["reason", "site__name", "charge_point__charge_point_id"]
    autocomplete_fields = ["site", "charge_point"]
    date_hierarchy = "starts_at"
    fields = [
        "site",
        "charge_point",
        "starts_at",
        "ends_at",
        "reason",
        "created_by",
        "applied_at",
        "released_at",
    ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: MaintenanceWindow | None = None
    ) -> list[str]:
        fixed = ["created_by", "applied_at", "released_at"]
        if obj is not None and obj.released_at is not None:
            return [*fixed, "site", "charge_point", "starts_at", "ends_at", "reason"]
        if obj is not None and obj.applied_at is not None:
            return [*fixed, "site", "charge_point", "starts_at"]
        return fixed

    def has_delete_permission(
        self, request: HttpRequest, obj: MaintenanceWindow | None = None
    ) -> bool:
        # Deleting a window in force would leave its chargers Inoperative for good.
        if obj is not None and obj.applied_at is not None and obj.released_at is None:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MaintenanceWindow]) -> None:
        # The bulk action too: windows in force stay (their end ends them).
        in_force = queryset.filter(applied_at__isnull=False, released_at__isnull=True)
        if in_force.exists():
            messages.warning(
                request,
                _("Windows in force were kept: set their end to end them: %(windows)s")
                % {"windows": ", ".join(str(window) for window in in_force)},
            )
        super().delete_queryset(request, queryset.exclude(pk__in=in_force.values("pk")))

    @admin.display(description=_("state"))
    def state(self, window: MaintenanceWindow) -> str:
        now = timezone.now()
        if window.released_at is not None or window.ends_at <= now:
            return str(_("Ended"))
        if window.starts_at <= now:
            return str(_("In force")) if window.applied_at else str(_("Starting"))
        return str(_("Planned"))

    def save_model(
        self, request: HttpRequest, obj: MaintenanceWindow, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- Inspection schedules and completing an inspection (operations/inspections.py) -------

CHECKLIST_ITEM_LENGTH = 100


class ChecklistField(forms.CharField):
    """A checklist as staff write it: one item a line; stored as a list of items."""

    widget = forms.Textarea(attrs={"rows": 8, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        if not value:
            raise forms.ValidationError(_("List at least one item, one a line."))
        for item in value:
            if len(item) > CHECKLIST_ITEM_LENGTH:
                raise forms.ValidationError(
                    _("Keep each item under %(length)d characters: %(item)s")
                    % {"length": CHECKLIST_ITEM_LENGTH, "item": item[:40]}
                )
        seen: set[str] = set()
        for item in value:
            if item.casefold() in seen:
                raise forms.ValidationError(_("%(item)s is listed twice.") % {"item": item})
            seen.add(item.casefold())


class InspectionScheduleForm(forms.ModelForm):
    every_months = forms.IntegerField(label=_("every (months)"), min_value=1, max_value=120)
    checklist = ChecklistField(
        label=_("checklist"),
        initial=default_checklist,
        help_text=_("One item a line, in the order staff check them."),
    )

    class Meta:
        model = InspectionSchedule
        fields = ["site", "every_months", "next_due", "checklist", "active"]


@admin.register(InspectionSchedule)
class InspectionScheduleAdmin(admin.ModelAdmin):
    """A site's inspections: when due, the hourly beat task opens an inspection ticket;
    its open inspection is completed from here (a form listing each item)."""

    form = InspectionScheduleForm
    list_display = ["site", "every_months", "next_due", "active", "open_inspection"]
    list_filter = ["active"]
    search_fields = ["site__name"]
    autocomplete_fields = ["site"]

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "inspection/<int:ticket_id>/",
                self.admin_site.admin_view(self.complete_view),
                name="operations_inspectionschedule_complete",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("open inspection"))
    def open_inspection(self, schedule: InspectionSchedule) -> str:
        if schedule.open_inspection_id is None:
            return ""
        url = reverse(
            "admin:operations_inspectionschedule_complete", args=[schedule.open_inspection_id]
        )
        return format_html('<a href="{}">{}</a>', url, gettext("Complete the checklist"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[InspectionSchedule]:
        return inspections.with_open_inspection(super().get_queryset(request))

    def complete_view(self, request: HttpRequest, ticket_id: int) -> HttpResponse:
        """The checklist of an open inspection ticket: each item OK or not, and a note."""
        if not request.user.has_perm("operations.change_ticket"):
            raise PermissionDenied
        ticket = get_object_or_404(Ticket, pk=ticket_id, kind=Ticket.Kind.INSPECTION)
        form = None
        if ticket.is_open:
            form = ChecklistForm(ticket.checklist, request.POST or None)
            if request.method == "POST" and form.is_valid():
                try:
                    inspections.complete(ticket, form.results(), by=request.user)
                except inspections.InspectionError as error:
                    form.add_error(None, str(error))
                else:
                    messages.success(
                        request, gettext("%(ticket)s is resolved.") % {"ticket": ticket}
                    )
                    return HttpResponseRedirect(
                        reverse("admin:operations_ticket_change", args=[ticket.pk])
                    )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Inspection checklist"),
            "ticket": ticket,
            "form": form,
            "rows": form.rows() if form else [],
        }
        status = 400 if form is not None and form.errors else 200
        return TemplateResponse(
            request, "admin/operations/inspection_complete.html", context, status=status
        )


def checklist_html(ticket: Ticket) -> str:
    """An inspection ticket's checklist as its admin page shows it (operations/ticket_admin.py):
    each item's result and note, and the way to complete it while the ticket is open."""
    results = {True: gettext("OK"), False: gettext("Not OK"), None: gettext("Not checked yet")}
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td></tr>",
        (
            (item, results[result.get("ok")], result.get("note", ""))
            for item, result in ticket.checklist.items()
        ),
    )
    table = format_html("<table><tbody>{}</tbody></table>", rows)
    if not ticket.is_open:
        return table
    url = reverse("admin:operations_inspectionschedule_complete", args=[ticket.pk])
    return format_html(
        '{}<p><a href="{}">{}</a></p>', table, url, gettext("Complete the checklist")
    )


class ChecklistForm(forms.Form):
    """One OK / not OK choice and a note per item of an inspection's checklist; an item
    that is not OK needs a note saying what is wrong."""

    def __init__(self, checklist: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items = list(checklist)
        for number, item in enumerate(self.items):
            self.fields[f"ok_{number}"] = forms.ChoiceField(
                label=item,
                choices=[(inspections.OK, _("OK")), (inspections.NOT_OK, _("Not OK"))],
                widget=forms.RadioSelect,
            )
            self.fields[f"note_{number}"] = forms.CharField(
                label=_("note"), required=False, max_length=500
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for number in range(len(self.items)):
            if (
                cleaned.get(f"ok_{number}") == inspections.NOT_OK
                and not cleaned.get(f"note_{number}", "").strip()
            ):
                self.add_error(f"note_{number}", _("Say what is wrong."))
        return cleaned

    def rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"ok_{n}"], self[f"note_{n}"]) for n in range(len(self.items))]

    def results(self) -> dict[str, dict[str, Any]]:
        return {
            item: {
                "ok": self.cleaned_data[f"ok_{number}"] == inspections.OK,
                "note": self.cleaned_data[f"note_{number}"],
            }
            for number, item in enumerate(self.items)
        }
