"""Template helpers of the portal: where to log in and out, money as printed, a
value of a page's per-item notes."""

from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils import formats
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext

from billing.money import CURRENCY, format_money

register = template.Library()


@register.simple_tag
def login_url() -> str:
    # LOGIN_URL is a URL name once accounts (allauth) are in, a path before.
    return resolve_url(settings.LOGIN_URL)


@register.simple_tag
def logout_url() -> str:
    """The accounts app's logout (POST); "" while none is installed."""
    try:
        return reverse("account_logout")
    except NoReverseMatch:
        return ""


@register.filter
def money(amount: Decimal | None, currency: str = CURRENCY) -> str:
    return "" if amount is None else format_money(amount, currency)


@register.filter
def kwh(watt_hours: int | None) -> str:
    """Wh as kWh with two decimals, in the active language's format."""
    if watt_hours is None:
        return ""
    return formats.number_format(Decimal(watt_hours) / 1000, decimal_pos=2, use_l10n=True)


@register.filter
def item(mapping: dict[Any, Any], key: Any) -> Any:
    """`mapping[key]`, or None: a page's notes per charger (`maintenance|item:pk`)."""
    return mapping.get(key)


@register.filter
def weekdays(days: tuple[int, ...]) -> str:
    """ISO weekdays as read: (1, 2, 3, 4, 5, 7) is "Mon-Fri, Sun" (an en dash), all seven
    "Every day"."""
    days = tuple(sorted(set(days)))
    if len(days) == 7:
        return gettext("Every day")
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    # django.utils.dates counts from 0 = Monday.
    names = [
        str(WEEKDAYS_ABBR[run[0] - 1])
        if len(run) == 1
        else f"{WEEKDAYS_ABBR[run[0] - 1]}\u2013{WEEKDAYS_ABBR[run[-1] - 1]}"
        for run in runs
    ]
    return ", ".join(names)
