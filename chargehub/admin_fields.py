"""Admin form widgets, inlines and filters shared by the apps' admins."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

# Times of day in a site's local time, whatever the browser's or the server's zone: a
# plain input, without admin's clock widget and its "you are N hours behind" note, which
# compares the browser with the server and means nothing for a site's hours.
LOCAL_TIME_INPUT = {models.TimeField: {"widget": forms.TimeInput(format="%H:%M")}}


class LabelledTabularInline(admin.TabularInline):
    """A tabular inline whose inputs have names for assistive technology.

    Django labels a tabular inline's inputs only by the column header, which a screen
    reader does not tie to the input (axe: "Form elements must have labels"); each
    input gets its field's label as aria-label, translated when the page is drawn.
    """

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)

        class LabelledFormSet(formset):  # type: ignore[misc, valid-type]
            def add_fields(self, form: forms.Form, index: int | None) -> None:
                super().add_fields(form, index)  # the "delete" box comes in here
                for field in form.fields.values():
                    # A foreign key's select sits inside admin's "add/change" wrapper.
                    widget = getattr(field.widget, "widget", field.widget)
                    widget.attrs.setdefault("aria-label", field.label)

        return LabelledFormSet


class BlankValuesFilter(admin.AllValuesFieldListFilter):
    """ "All values" of a text field, where a blank one is named, not an empty link."""

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if not str(choice["display"]).strip():
                choice = {**choice, "display": _("(blank)")}
            yield choice


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the code writes (facts from chargers, logs, records, summaries): staff
    look, and act through actions, never add, edit or delete them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LookaheadPaginator(Paginator):
    """Pages of a table of tens of millions of rows (the message log, meter samples)
    without counting it: a COUNT(*) of the whole log, or of a filter that matches
    millions, reads all of them on every page. It counts only as far as the pager looks
    ahead of the page asked for (`pages_ahead`, at least `at_least` rows), in the list's
    own order so that the count walks the same index as the page; `capped` says more rows
    may follow, and the pager then says "more than" that count (templates/admin/stations/
    pagination.html). Each page further on looks further ahead."""

    pages_ahead = 5
    at_least = 1000

    def __init__(
        self, object_list: Any, per_page: int, *args: Any, page: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.limit = max(self.at_least, (page + self.pages_ahead) * int(per_page))

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.limit + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.limit


class HugeTableAdmin(admin.ModelAdmin):
    """The list of a table of tens of millions of rows: pages by LookaheadPaginator, and
    never counts the whole table either (show_full_result_count)."""

    paginator = LookaheadPaginator
    show_full_result_count = False

    def get_paginator(
        self, request: HttpRequest, queryset: Any, per_page: int, *args: Any, **kwargs: Any
    ) -> Paginator:
        try:  # ChangeList's page parameter ("p"), counted from 1; it checks it itself
            page = max(int(request.GET.get("p", 1)), 1)
        except ValueError:
            page = 1
        # The look-ahead limit must stay a number the database takes; ChangeList then
        # answers a page past the end as it does for any list.
        page = min(page, 10**6)
        return self.paginator(queryset, per_page, *args, page=page, **kwargs)


class ReadOnlyInline(admin.TabularInline):
    """The same, for rows shown inside another's page."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LiveFigures:
    """An admin whose change page refreshes itself from JSON: `<pk>/<live_path>/`, named
    `<app>_<model>_<live_path>`, answers `live_figures(obj)` to anyone who may view it."""

    live_path = ""

    def live_figures(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def get_urls(self) -> list[Any]:
        opts = self.model._meta  # type: ignore[attr-defined]
        return [
            path(
                f"<int:object_id>/{self.live_path}/",
                self.admin_site.admin_view(self.live_figures_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_{self.live_path}",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def live_figures_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        obj = get_object_or_404(self.model, pk=object_id)  # type: ignore[attr-defined]
        return JsonResponse(self.live_figures(obj))
