"""Support cases in admin (operations/support.py): support reads the thread and answers
(emailed to the driver); finance refunds a payment case in one action."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from billing import invoicing, refunds
from billing import tasks as billing_tasks
from billing.admin import may_issue_documents
from operations import support, tasks
from operations.models import SupportCase


class SupportCaseForm(forms.ModelForm):
    reply = forms.CharField(
        label=_("answer to the driver"),
        required=False,
        max_length=support.MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text=_(
            "Emailed to the driver and shown on their support page; the case is then answered."
        ),
    )

    class Meta:
        model = SupportCase
        fields = ["status"]


class RefundForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Printed on the credit note."),
    )


@admin.register(SupportCase)
class SupportCaseAdmin(admin.ModelAdmin):
    """Drivers' reports: support reads the thread, answers (emailed), closes; a payment
    case is refunded in one action (credit note, then the money back)."""

    form = SupportCaseForm
    list_display = [
        "__str__",
        "created_at",
        "status",
        "category",
        "driver",
        "site",
        "charge_point",
        "ticket_link",
        "charge_link",
    ]
    list_filter = ["status", "category"]
    search_fields = ["driver__email", "charge_point__charge_point_id", "site__name", "message"]
    list_select_related = ["driver", "site", "charge_point", "ticket", "session__charge"]
    date_hierarchy = "created_at"
    actions = ["refund_cases"]
    readonly_fields = [
        "driver",
        "category",
        "created_at",
        "site",
        "charge_point",
        "connector",
        "session",
        "ticket_link",
        "charge_link",
        "credit_note_link",
        "thread",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("driver", "created_at"),
                    ("category", "status"),
                    ("site", "charge_point", "connector"),
                    ("session", "charge_link", "credit_note_link"),
                    "ticket_link",
                    "thread",
                    "reply",
                ]
            },
        )
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases come from drivers (portal, API)

    def may_answer(self, request: HttpRequest, obj: Any = None) -> bool:
        # Answering writes a message on the case: both permissions (support has them).
        return self.has_change_permission(request, obj) and request.user.has_perm(
            "operations.add_supportmessage"
        )

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if not self.may_answer(request, obj):
            form.base_fields.pop("reply", None)
        return form

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if not self.may_answer(request, obj):
            fields = [field for field in fieldsets[0][1]["fields"] if field != "reply"]
            return [(None, {"fields": fields})]
        return fieldsets

    def save_model(self, request: HttpRequest, obj: SupportCase, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        reply = form.cleaned_data.get("reply", "").strip()
        if not reply:
            return
        message = support.answer(obj, reply, by=request.user)
        if "status" in form.changed_data and obj.status == SupportCase.Status.CLOSED:
            # Answered and closed at once: the last word, nothing more to wait for.
            SupportCase.objects.filter(pk=obj.pk).update(status=SupportCase.Status.CLOSED)
        transaction.on_commit(lambda: tasks.email_support_answer.delay(message.pk))
        self.message_user(request, _("Answer sent to %(email)s.") % {"email": obj.driver.email})

    @admin.display(description=_("messages"))
    def thread(self, case: SupportCase) -> str:
        """The case's messages, oldest first: who wrote, when, and whether it was emailed."""
        rows = []
        for message in case.messages.select_related("author").order_by("created_at", "id"):
            who = _("Support") if message.from_staff else _("Driver")
            emailed = (
                _("emailed %(at)s")
                % {"at": date_format(localtime(message.emailed_at), "SHORT_DATETIME_FORMAT")}
                if message.emailed_at
                else ""
            )
            rows.append(
                (
                    who,
                    message.author or "",
                    date_format(localtime(message.created_at), "SHORT_DATETIME_FORMAT"),
                    emailed,
                    linebreaksbr(message.body),
                )
            )
        return format_html_join(
            "",
            '<div class="support-message"><p><strong>{}</strong> {} · {} {}</p><p>{}</p></div>',
            rows,
        )

    @admin.display(description=_("ticket"))
    def ticket_link(self, case: SupportCase) -> str:
        if case.ticket_id is None:
            return "-"
        try:
            url = reverse("admin:operations_ticket_change", args=[case.ticket_id])
        except NoReverseMatch:  # tickets not in this admin site
            return str(case.ticket)
        return format_html('<a href="{}">{}</a>', url, case.ticket)

    @admin.display(description=_("session charge"))
    def charge_link(self, case: SupportCase) -> str:
        charge = case.charge
        if charge is None:
            return "-"
        url = reverse("admin:billing_sessioncharge_change", args=[charge.pk])
        return format_html(
            '<a href="{}">{} {} ({})</a>',
            url,
            charge.gross,
            charge.currency,
            charge.get_status_display(),
        )

    @admin.display(description=_("credit note"))
    def credit_note_link(self, case: SupportCase) -> str:
        if case.credit_note_id is None:
            return "-"
        url = reverse("admin:billing_invoice_change", args=[case.credit_note_id])
        return format_html('<a href="{}">{}</a>', url, case.credit_note.display_number)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return may_issue_documents(request)  # a refund issues a credit note

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        extra_context = {
            **(extra_context or {}),
            "may_refund": self.has_refund_permission(request),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Refund the session's charge"), permissions=["refund"])
    def refund_cases(
        self, request: HttpRequest, queryset: QuerySet[SupportCase]
    ) -> TemplateResponse | None:
        """Asks for a reason first, then credits each case's session charge and pays it
        back (operations/support.py refund()); the credit note is emailed to the driver."""
        form = RefundForm(request.POST if request.POST.get("post") else None)
        if not (form.is_bound and form.is_valid()):
            return TemplateResponse(
                request,
                "admin/operations/supportcase/refund.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Refund the session's charge"),
                    "form": form,
                    "queryset": queryset.select_related("session__charge__document"),
                    "action": request.POST["action"],
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        for case in queryset:
            self._refund(request, case, form.cleaned_data["reason"])
        return None

    def _refund(self, request: HttpRequest, case: SupportCase, reason: str) -> None:
        try:
            note = support.refund(case, reason=reason, by=request.user)
        except (support.CannotRefund, invoicing.InvoicingError) as error:
            self.message_user(request, f"#{case.pk}: {error}", messages.ERROR)
            return
        except refunds.RefundError as error:
            # The credit note stands (kept on the case); the money goes back later.
            note = SupportCase.objects.get(pk=case.pk).credit_note
            self.message_user(request, f"#{case.pk}: {error}", messages.WARNING)
        else:
            if note.refund_reference:
                text = _("#%(case)s: %(note)s issued, %(amount)s %(currency)s paid back.")
            else:
                text = _(
                    "#%(case)s: %(note)s issued; the document was not paid, so it is owed no more."
                )
            self.message_user(
                request,
                text
                % {
                    "case": case.pk,
                    "note": note.display_number,
                    "amount": -note.gross,
                    "currency": note.currency,
                },
            )
        self.log_change(request, case, f"Refunded by {note.display_number}")
        transaction.on_commit(lambda: billing_tasks.email_document.delay(note.pk))
