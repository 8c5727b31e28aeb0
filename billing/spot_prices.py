"""Hourly spot prices: imported by staff in admin, or fetched from SPOT_PRICE_URL by the
hourly task `billing.tasks.fetch_spot_prices`.

The URL answers JSON: a list of {"starts_at": ISO 8601 with offset, "price_per_kwh":
number or string, SEK excl. VAT}. Every row is checked before any is stored (a whole
hour, a time zone, a finite price below 1000 SEK): a bad answer changes nothing. A
stored hour is overwritten by a newer answer for it.
"""

import json
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction

from billing.models import SpotPrice

LARGEST = Decimal(1000)
TIMEOUT_SECONDS = 20


class SpotPriceError(ValueError):
    """An answer that is not a spot price series; str() says what is wrong."""


def parse(rows: Any) -> dict[datetime, Decimal]:
    """A series as {hour: price}; SpotPriceError for anything else."""
    if not isinstance(rows, list):
        raise SpotPriceError("expected a list of {starts_at, price_per_kwh}")
    series: dict[datetime, Decimal] = {}
    for number, row in enumerate(rows):
        try:
            starts_at = datetime.fromisoformat(row["starts_at"])
            price = Decimal(str(row["price_per_kwh"]))
        except (TypeError, KeyError, ValueError, InvalidOperation) as error:
            raise SpotPriceError(f"row {number}: {error!r}") from None
        if starts_at.tzinfo is None:
            raise SpotPriceError(f"row {number}: starts_at has no UTC offset")
        if starts_at.minute or starts_at.second or starts_at.microsecond:
            raise SpotPriceError(f"row {number}: not a whole hour")
        if not price.is_finite() or abs(price) >= LARGEST:
            raise SpotPriceError(f"row {number}: price {price} out of range")
        series[starts_at] = price.quantize(Decimal("0.0001"))
    return series


def store(series: dict[datetime, Decimal], source: str) -> int:
    """Write the series (one transaction; an hour stored before is overwritten)."""
    with transaction.atomic():
        for starts_at, price in series.items():
            SpotPrice.objects.update_or_create(
                starts_at=starts_at, defaults={"price_per_kwh": price, "source": source}
            )
    return len(series)


def fetch(url: str | None = None) -> int:
    """Fetch the series from `url` (SPOT_PRICE_URL) and store it; returns the hours stored.
    Nothing configured: 0."""
    url = url or settings.SPOT_PRICE_URL
    if not url:
        return 0
    if not url.startswith(("https://", "http://")):
        raise SpotPriceError("SPOT_PRICE_URL must be an http(s) URL")
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
        try:
            rows = json.loads(answer.read())
        except ValueError as error:
            raise SpotPriceError(f"not JSON: {error}") from None
    return store(parse(rows), url[:200])


def prices_between(start: datetime, end: datetime) -> dict[datetime, Decimal]:
    """The stored hours that meet [start, end), by the hour's start (UTC)."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return dict(
        SpotPrice.objects.filter(starts_at__gte=first, starts_at__lt=end).values_list(
            "starts_at", "price_per_kwh"
        )
    )


def price_at(prices: dict[datetime, Decimal], moment: datetime) -> Decimal | None:
    """The spot price of the hour `moment` falls in, if stored."""
    return prices.get(moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
