"""Dates and numbers as drivers read them (chargehub/formats, FORMAT_MODULE_PATH): English
dates day month year with a 24-hour clock, never US month/day order; Swedish ISO dates
and a decimal comma."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django import forms
from django.utils import formats, translation

from billing.money import format_money

MOMENT = datetime(2026, 12, 6, 18, 39, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "short", "long", "day"),
    [
        ("en", "6 Dec 2026 18:39", "6 Dec 2026 18:39", "6 Dec 2026"),
        ("sv", "2026-12-06 18:39", "6 december 2026 18:39", "2026-12-06"),
    ],
)
def test_dates_read_day_month_year(language, short, long, day):
    with translation.override(language):
        assert formats.date_format(MOMENT, "SHORT_DATETIME_FORMAT") == short
        assert formats.date_format(MOMENT, "DATETIME_FORMAT") == long
        assert formats.date_format(MOMENT.date(), "SHORT_DATE_FORMAT") == day
        assert formats.time_format(MOMENT.time()) == "18:39"


@pytest.mark.parametrize(
    ("language", "price"), [("en", "1,234.50\u00a0SEK"), ("sv", "1\u00a0234,50\u00a0SEK")]
)
def test_amounts_have_the_languages_decimal_mark(language, price):
    with translation.override(language):
        assert format_money(Decimal("1234.5")) == price


def test_an_english_date_field_takes_iso_and_never_reads_month_first():
    with translation.override("en"):
        field = forms.DateField()
        assert field.clean("2026-12-06") == date(2026, 12, 6)
        assert field.clean("06/12/2026") == date(2026, 12, 6)  # day first, as in Europe
        assert field.widget.format_value(date(2026, 12, 6)) == "2026-12-06"
