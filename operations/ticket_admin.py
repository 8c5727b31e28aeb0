"""The back office for tickets: staff change state, assignee and severity and add
comments through operations/tickets.py (the same checks as the API); tickets open by
themselves from faults, so there is no "add" here. Also who covers which site.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from operations import maintenance_admin, tickets
from operations.models import SiteTechnician, Ticket, TicketEntry
from users.models import User
from users.roles import TECHNICIAN


def technicians() -> QuerySet[User]:
    return User.objects.filter(is_active=True, is_staff=True, groups__name=TECHNICIAN.name)


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        overdue = {"status__in": Ticket.OPEN_STATUSES, "due_at__lt": timezone.now()}
        if self.value() == "yes":
            return queryset.filter(**overdue)
        if self.value() == "no":
            return queryset.exclude(**overdue)
        return queryset


class OpenFilter(admin.SimpleListFilter):
    """Open: any state someone still has to act on (not resolved or closed)."""

    title = _("open")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Open")), ("no", _("Resolved or closed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "yes":
            return queryset.filter(status__in=Ticket.OPEN_STATUSES)
        if self.value() == "no":
            return queryset.exclude(status__in=Ticket.OPEN_STATUSES)
        return queryset


class TicketEntryInline(admin.TabularInline):
    model = TicketEntry
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "author", "text", "data"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TicketForm(forms.ModelForm):
    comment = forms.CharField(
        label=_("Add a comment"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    class Meta:
        model = Ticket
        fields = ["status", "severity", "assignee"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = technicians()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk is None:
            return data
        current = Ticket.objects.get(pk=self.instance.pk)
        changes = {name: data[name] for name in ("status", "severity", "assignee") if name in data}
        try:
            tickets.check_update(current, **changes)
        except tickets.TicketRefused as refused:
            raise forms.ValidationError(refused.message) from None
        return data


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    form = TicketForm
    list_display = [
        "id",
        "title",
        "severity",
        "status",
        "charge_point",
        "site",
        "occurrences",
        "due_at",
        "overdue",
        "assignee",
        "opened_at",
    ]
    list_display_links = ["id", "title"]
    list_filter = [OpenFilter, "status", "severity", "kind", OverdueFilter, "site", "assignee"]
    search_fields = ["title", "charge_point__charge_point_id", "=id"]
    list_select_related = ["charge_point", "site", "assignee"]
    readonly_fields = [
        "kind",
        "title",
        "site",
        "charge_point",
        "connector",
        "occurrences",
        "opened_at",
        "last_occurred_at",
        "due_at",
        "overdue",
        "resolved_at",
        "resolution",
        "alerted_at",
        "escalated_at",
    ]
    inlines = [TicketEntryInline]
    actions = ["reopen"]

    @admin.display(boolean=True, description=_("overdue"))
    def overdue(self, ticket: Ticket) -> bool:
        return ticket.is_overdue()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["status", "severity", "assignee"]
        if request.user.has_perm("operations.add_ticketentry"):
            fields.append("comment")
        return [*fields, *self.get_readonly_fields(request, obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.kind == Ticket.Kind.INSPECTION:
            fields.append("inspection")
        return fields

    @admin.display(description=_("inspection checklist"))
    def inspection(self, ticket: Ticket) -> str:
        return maintenance_admin.checklist_html(ticket)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # faults open tickets (operations/faults.py)

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        """Through operations.tickets, never a plain save: the same rules as the API."""
        data = form.cleaned_data
        changes = {name: data[name] for name in ("status", "severity", "assignee") if name in data}
        try:
            updated = tickets.update(Ticket.objects.get(pk=obj.pk), by=request.user, **changes)
            if data.get("comment") and request.user.has_perm("operations.add_ticketentry"):
                tickets.comment(updated, data["comment"], by=request.user)
        except tickets.TicketRefused as refused:  # changed by someone else meanwhile
            messages.error(request, refused.message)

    @admin.action(description=_("Reopen the selected tickets"), permissions=["change"])
    def reopen(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        for ticket in queryset:
            try:
                tickets.reopen(ticket, by=request.user)
            except tickets.TicketRefused as refused:
                messages.error(request, f"#{ticket.pk}: {refused.message}")
            else:
                messages.success(request, gettext("#%(id)s: open again.") % {"id": ticket.pk})


class SiteTechnicianForm(forms.ModelForm):
    class Meta:
        model = SiteTechnician
        fields = ["site", "user", "digest"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = technicians()


@admin.register(SiteTechnician)
class SiteTechnicianAdmin(admin.ModelAdmin):
    form = SiteTechnicianForm
    list_display = ["site", "user", "digest", "last_digest_at"]
    list_filter = ["digest", "site"]
    search_fields = ["site__name", "user__email"]
    list_select_related = ["site", "user"]
