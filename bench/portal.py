"""Portal page timing: station search over N sites and the station page, server time.

    .venv/bin/python bench/portal.py --sites 10000 --requests 50
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/portal.py --sites 10000 --requests 50

Builds its data in a throwaway database, as bench/invoicing.py does: a SQLite file in a
temporary directory, or, when DATABASE_URL is set, a fresh database
`chargehub_bench_portal_<pid>` on that PostgreSQL server (dropped at the end); the schema
comes from the models. The data: --sites sites spread over Sweden (one in fifty without
coordinates), each with one charger of two connectors (Type 2 22 kW and CCS 2 50-150 kW,
statuses mixed, nine in ten chargers online); prices as a network has them: half the
sites at 4.06 SEK/kWh incl. VAT, half at 3.13 (1.88 at night, time of use), one charger
in ten with a dearer tariff of its own (6.25), one site in 200 without a price; one site
in five open only on weekdays 06-22 (opening hours).

Then it times each page with Django's test Client, in process: the time is the server's
(URL routing, view, queries, template), without a network or a web server. Each page is
requested --requests times after one warm-up; it prints p50/p95/max in ms and the number
of queries of one request.
"""

import argparse
import os
import random
import statistics
import time
from datetime import time as dt_time
from decimal import Decimal

from scratch_database import scratch_database

# Sweden, roughly: where the sites are spread.
LAT_RANGE = (55.4, 67.8)
LON_RANGE = (11.2, 23.8)
GOTHENBURG = "57.7089,11.9746"
CITIES = ["Göteborg", "Malmö", "Västerås", "Umeå", "Örebro", "Luleå", "Jönköping", "Östersund"]


def build_data(sites: int, seed: int = 42) -> int:
    """The sites; returns the id of one site in Göteborg (for the station page)."""
    from django.db import connection
    from django.utils import timezone

    from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
    from stations.models import ChargePoint, Connector, OpeningHours, Site

    rng = random.Random(seed)
    now = timezone.now()
    rows = []
    for n in range(sites):
        located = n % 50 != 0
        rows.append(
            Site(
                name=f"Laddplats {n:05d} {CITIES[n % len(CITIES)]}",
                city=CITIES[n % len(CITIES)],
                address=f"Storgatan {n % 90 + 1}",
                latitude=Decimal(f"{rng.uniform(*LAT_RANGE):.6f}") if located else None,
                longitude=Decimal(f"{rng.uniform(*LON_RANGE):.6f}") if located else None,
                open_24_7=n % 5 != 0,
            )
        )
    # The station page's site: in Göteborg, near the "near me" position.
    rows[1].latitude, rows[1].longitude = Decimal("57.706"), Decimal("11.938")
    site_rows = Site.objects.bulk_create(rows, batch_size=1000)
    points = ChargePoint.objects.bulk_create(
        [
            ChargePoint(
                charge_point_id=f"BENCH-{n:05d}",
                site=site,
                is_connected=n % 10 != 0,
                last_seen_at=now if n % 10 != 0 else None,
            )
            for n, site in enumerate(site_rows)
        ],
        batch_size=1000,
    )
    statuses = ["Available", "Available", "Charging", "Preparing", "Faulted", "Unavailable"]
    Connector.objects.bulk_create(
        [
            Connector(
                charge_point=point,
                connector_id=number,
                connector_type="Type2" if number == 1 else "CCS2",
                max_power_kw=Decimal("22") if number == 1 else Decimal(rng.choice([50, 150])),
                status=rng.choice(statuses),
            )
            for point in points
            for number in (1, 2)
        ],
        batch_size=1000,
    )
    OpeningHours.objects.bulk_create(
        [
            OpeningHours(site=site, weekday=day, opens=dt_time(6), closes=dt_time(22))
            for site in site_rows
            if not site.open_24_7
            for day in range(1, 6)
        ],
        batch_size=1000,
    )
    standard = Tariff.objects.create(
        name="Standard", price_per_kwh=Decimal("3.2500"), session_fee=Decimal("5.00")
    )
    budget = Tariff.objects.create(name="Budget", price_per_kwh=Decimal("2.5000"))
    TimeOfUsePeriod.objects.create(
        tariff=budget,
        name="Night",
        start_time=dt_time(22),
        end_time=dt_time(6),
        price_per_kwh=Decimal("1.5000"),
    )
    fast = Tariff.objects.create(name="Fast", price_per_kwh=Decimal("5.0000"))
    TariffAssignment.objects.bulk_create(
        [
            TariffAssignment(tariff=standard if n % 2 == 0 else budget, site=site)
            for n, site in enumerate(site_rows)
            if n % 200 != 7
        ]
        + [TariffAssignment(tariff=fast, charge_point=point) for point in points[5::10]],
        batch_size=1000,
    )
    if connection.vendor == "postgresql":
        # Table statistics, as autovacuum keeps them in a live database: without them the
        # planner takes 10,000 freshly loaded rows for a handful.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return site_rows[1].pk


def time_page(client, url: str, requests: int) -> tuple[list[float], int, int]:
    """Times of `requests` GETs in ms, the queries of one, the status code."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)  # warm-up: template loading, first connection
        query_count = len(queries)  # counted inside: the context's exit resets the log
    times = []
    for _n in range(requests):
        t0 = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
    return times, query_count, response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not 1 <= args.sites <= 200_000 or not 1 <= args.requests <= 10_000:
        raise SystemExit("Bounds: 1..200000 sites, 1..10000 requests")

    with scratch_database("portal", keep=args.keep) as database:
        run(args, database)


def run(args: argparse.Namespace, database: str) -> None:
    from django.test import Client
    from django.urls import reverse

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"database: {database}")
    t0 = time.perf_counter()
    site_id = build_data(args.sites)
    print(
        f"data: {args.sites} sites, {2 * args.sites} connectors in {time.perf_counter() - t0:.1f} s"
    )

    stations = reverse("portal:stations")
    pages = [
        ("list, no filter", stations),
        ("list, page 2", f"{stations}?page=2"),
        ("list, filters", f"{stations}?connector_type=CCS2&min_power=100&available=on"),
        ("list, near me", f"{stations}?near={GOTHENBURG}"),
        ("list, near me p2", f"{stations}?near={GOTHENBURG}&page=2"),
        ("list, near+filters", f"{stations}?near={GOTHENBURG}&available=on&min_power=100"),
        ("list, max price", f"{stations}?max_price=4"),
        ("list, price p2", f"{stations}?max_price=4&page=2"),
        ("list, price+filters", f"{stations}?max_price=4&connector_type=CCS2&available=on"),
        ("list, near+price", f"{stations}?near={GOTHENBURG}&max_price=3.5"),
        ("list, price none", f"{stations}?max_price=1"),
        ("station page", reverse("portal:station", args=[site_id])),
    ]
    client = Client()
    print(
        f"{'page':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}"
        f"  (n={args.requests})"
    )
    worst = 0.0
    for name, url in pages:
        times, queries, status = time_page(client, url, args.requests)
        if status != 200:
            raise SystemExit(f"{name}: HTTP {status} for {url}")
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        worst = max(worst, p95)
        print(
            f"{name:<20} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f} {queries:8d}"
        )
    print(f"worst p95 {worst:.1f} ms (target: every page under 300 ms)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes count)")


if __name__ == "__main__":
    main()
