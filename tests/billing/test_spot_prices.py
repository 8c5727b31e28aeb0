"""Hourly spot prices (billing/spot_prices.py): fetched from a stand-in of SPOT_PRICE_URL,
checked before any is stored, and followed by cheap-hour charging under a flat tariff."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import spot_prices
from billing.models import SpotPrice
from billing.tasks import fetch_spot_prices
from charging import cheap_hours
from tests.billing.sessions import charging_site
from tests.http_stand_in import QuietHandler, StandIn

pytestmark = pytest.mark.django_db

MIDNIGHT = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)


class Answers:
    body: bytes = b"[]"


@pytest.fixture
def spot_server() -> Iterator[str]:
    """A local stand-in for the spot price service: answers Answers.body."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # http.server calls it by this name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(Answers.body)

    stand_in = StandIn(Handler)
    yield f"{stand_in.origin}/prices.json"
    stand_in.stop()


def series(prices: list[str], start: datetime = MIDNIGHT) -> bytes:
    return json.dumps(
        [
            {"starts_at": (start + timedelta(hours=n)).isoformat(), "price_per_kwh": price}
            for n, price in enumerate(prices)
        ]
    ).encode()


def test_the_task_fetches_the_series_and_a_newer_answer_overwrites_an_hour(spot_server, settings):
    settings.SPOT_PRICE_URL = spot_server
    Answers.body = series(["0.80", "0.55", "-0.02"])

    assert fetch_spot_prices() == 3
    Answers.body = series(["0.75"])
    assert fetch_spot_prices() == 1

    assert list(
        SpotPrice.objects.order_by("starts_at").values_list("price_per_kwh", flat=True)
    ) == [
        Decimal("0.75"),
        Decimal("0.55"),
        Decimal("-0.02"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"starts_at": "2026-12-08T00:00:00+00:00"}',
        b'[{"starts_at": "2026-12-08T00:00:00", "price_per_kwh": 1}]',
        b'[{"starts_at": "2026-12-08T00:30:00+00:00", "price_per_kwh": 1}]',
        b'[{"starts_at": "2026-12-08T00:00:00+00:00", "price_per_kwh": "NaN"}]',
        b'[{"starts_at": "2026-12-08T00:00:00+00:00", "price_per_kwh": 1},'
        b' {"starts_at": "2026-12-08T01:00:00+00:00"}]',
    ],
)
def test_a_bad_answer_stores_nothing(spot_server, settings, body):
    settings.SPOT_PRICE_URL = spot_server
    Answers.body = body

    with pytest.raises(spot_prices.SpotPriceError):
        spot_prices.fetch()
    assert fetch_spot_prices() == 0  # logged; the next hour tries again
    assert not SpotPrice.objects.exists()


def test_without_a_url_nothing_is_fetched(settings):
    settings.SPOT_PRICE_URL = ""
    assert fetch_spot_prices() == 0


def test_under_a_flat_tariff_the_car_charges_in_the_cheapest_spot_hours():
    connector = charging_site("Spot", price_per_kwh=Decimal(2))  # 22 kW
    prices = ["1.10", "0.90", "0.20", "0.30", "1.00", "1.20"]
    spot_prices.store(spot_prices.parse(json.loads(series(prices))), "test")

    periods = cheap_hours.plan_for(
        connector, None, MIDNIGHT, MIDNIGHT + timedelta(hours=6), Decimal(22)
    )

    charging = [(p.start.hour, p.end.hour, p.watts) for p in periods if p.watts]
    assert charging == [(2, 3, 22_000)]  # the 0.20 hour
