"""The outbox in admin: what was sent, what is waiting, what failed and why; staff
resend failed messages (notifications/outbox.py resend). Staff choose the daily digest
for their alerts on their notification preferences; what waits for it is listed."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from chargehub.admin_fields import ReadOnlyAdmin
from notifications import outbox, webhooks
from notifications.models import DigestItem, OutboxMessage, Preferences, WebhookEndpoint


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "channel",
        "recipient",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["state", "channel", "kind"]
    search_fields = ["key", "recipient__email", "kind"]
    list_select_related = ["recipient"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["resend"]
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]

    @admin.action(description=_("Resend the selected failed messages"), permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox.resend(queryset)
        self.message_user(
            request,
            ngettext("%(count)d message queued again.", "%(count)d messages queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages come from events, never typed in

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what was sent, and the key that keeps it once


class WebhookEndpointForm(forms.ModelForm):
    """The URL is checked against the SSRF guard; events are chosen from the list."""

    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(event, event) for event in webhooks.EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "enabled"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhooks.check_target(url)
        except webhooks.TargetRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "owner", "enabled", "consecutive_failures", "created_at", "last_error"]
    list_filter = ["enabled"]
    search_fields = ["url", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "consecutive_failures", "last_error", "created_at", "disabled_at"]
    actions = ["send_test_event"]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        if not change:
            obj.owner = request.user
            obj.secret = webhooks.new_secret()
        if obj.enabled:
            obj.consecutive_failures = 0  # enabled again: counted afresh
            obj.disabled_at = None
        super().save_model(request, obj, form, change)
        if not change:
            # Shown once: only a receiver that keeps it can verify the signatures.
            self.message_user(
                request,
                _("Signing secret of %(url)s (shown once, keep it): %(secret)s")
                % {"url": obj.url, "secret": obj.secret},
                messages.WARNING,
            )

    @admin.action(description=_("Send a test event"), permissions=["change"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = sum(webhooks.send_test(endpoint) for endpoint in queryset)
        self.message_user(
            request,
            ngettext("%(count)d test event queued.", "%(count)d test events queued.", count)
            % {"count": count},
        )


@admin.register(Preferences)
class PreferencesAdmin(admin.ModelAdmin):
    """Where a staff member's daily digest of staff alerts is chosen (`staff_digest`)."""

    list_display = ["user", "staff_digest", "updated_at"]
    list_filter = ["staff_digest"]
    search_fields = ["user__email"]
    autocomplete_fields = ["user"]
    fields = ["user", "staff_digest", "channels", "quiet_start", "quiet_end"]
    # The driver's own choice, made on their page or through the API (checked there).
    readonly_fields = ["channels"]


@admin.register(DigestItem)
class DigestItemAdmin(ReadOnlyAdmin):
    """Staff alerts held for a daily digest (notifications/digest.py)."""

    list_display = ["created_at", "user", "kind", "subject", "sent_at"]
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "subject"]
