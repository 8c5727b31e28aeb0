"""Monthly invoicing benchmark: N customers, M priced sessions, one monthly run, PDFs.

    .venv/bin/python bench/invoicing.py --customers 1000 --sessions 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/invoicing.py --customers 1000 --sessions 10000

Builds its data in a throwaway database: a SQLite file in a temporary directory, or,
when DATABASE_URL is set, a fresh database `chargehub_bench_inv_<pid>` on that
PostgreSQL server (dropped at the end). The schema is built from the models, as the
tests do, so the script does not depend on the migrations being up to date.

The data: 20 sites with 5 chargers of 2 connectors each; --customers billing accounts
paying by monthly invoice (one in ten a fleet, the rest drivers; Swedish and English;
names with å ä ö); --sessions sessions spread over them in last month, each priced by
billing/pricing.py (energy, charging time, session fee) and frozen in a SessionCharge
as settlement does. Then it times:

1. the monthly run, `invoicing.issue_monthly_invoices(month)`: invoices/s, sessions/s;
2. the same run again (must issue nothing);
3. rendering every invoice's PDF with WeasyPrint (--pdfs to render fewer): PDFs/s;

and checks the result (every session invoiced once, numbers 1..N without gaps, totals
equal to the sum of the sessions). Prints the figures and the peak memory (RSS).
"""

import argparse
import calendar
import os
import random
import resource
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from scratch_database import scratch_database

SITES = 20
CHARGERS_PER_SITE = 5
CONNECTORS = 2
FIRST_NAMES = ["Åsa", "Örjan", "Märta", "Björn", "Anna", "Erik", "Sofia", "Jörgen", "Linnéa"]
LAST_NAMES = ["Öberg", "Åkesson", "Lindqvist", "Söderström", "Nilsson", "Håkansson", "Berg"]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def build_data(
    customers: int, sessions: int, month_start: datetime, days: int, seed: int = 42
) -> None:
    from billing import settlement
    from billing.models import BillingAccount, CustomerGroup, SessionCharge
    from billing.pricing import SessionUsage, TariffTerms, price_session
    from stations.models import ChargePoint, ChargingSession, Connector, Site
    from stations.sessions import energy_steps
    from users.models import User

    rng = random.Random(seed)
    sites = Site.objects.bulk_create(
        [Site(name=f"Laddplats {n:02d} Västerås", city="Västerås") for n in range(SITES)]
    )
    points = ChargePoint.objects.bulk_create(
        [
            ChargePoint(charge_point_id=f"BENCH-{s.pk:02d}-{n}", site=s)
            for s in sites
            for n in range(CHARGERS_PER_SITE)
        ]
    )
    connectors = Connector.objects.bulk_create(
        [Connector(charge_point=p, connector_id=n + 1) for p in points for n in range(CONNECTORS)]
    )
    for connector in connectors:  # bulk_create does not fill in the related object
        connector.charge_point = next(p for p in points if p.pk == connector.charge_point_id)

    fleets = customers // 10
    drivers = customers - fleets
    users = User.objects.bulk_create(
        [
            User(
                email=f"driver{n}@bench.example",
                password="!",  # unusable: nobody logs in here
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                language=rng.choice(["sv", "en"]),
            )
            for n in range(drivers)
        ],
        batch_size=1000,
    )
    groups = CustomerGroup.objects.bulk_create(
        [CustomerGroup(name=f"Åkeri {n} AB", kind="fleet") for n in range(fleets)]
    )
    invoice = BillingAccount.PaymentMethod.INVOICE
    accounts = BillingAccount.objects.bulk_create(
        [
            BillingAccount(
                user=user,
                payment_method=invoice,
                address=f"Storgatan {n % 90 + 1}\n722 1{n % 10} Västerås",
            )
            for n, user in enumerate(users)
        ]
        + [
            BillingAccount(
                fleet=group,
                payment_method=invoice,
                name=group.name,
                email=f"ekonomi{n}@akeri.example",
                address=f"Industrivägen {n + 1}\n831 30 Östersund",
                org_number=f"556{n:03d}-0000",
                vat_number=f"SE556{n:03d}000001",
                language=rng.choice(["sv", "en"]),
            )
            for n, group in enumerate(groups)
        ],
        batch_size=1000,
    )

    terms = TariffTerms(
        name="Standard",
        price_per_kwh=Decimal("2.4500"),
        price_per_minute=Decimal("0.0500"),
        session_fee=Decimal("5.00"),
    )
    session_rows, prices = [], []
    for n in range(sessions):
        connector = connectors[n % len(connectors)]
        started = month_start + timedelta(
            days=rng.randrange(days - 1), minutes=rng.randrange(0, 20 * 60)
        )
        minutes = rng.randint(15, 240)
        stopped = started + timedelta(minutes=minutes)
        wh = rng.randint(2_000, 60_000)
        session_rows.append(
            ChargingSession(
                charge_point=connector.charge_point,
                connector=connector,
                id_tag=f"BENCH{n}",
                status=ChargingSession.Status.COMPLETED,
                started_at=started,
                stopped_at=stopped,
                meter_start_wh=0,
                meter_stop_wh=wh,
                energy_wh=wh,
            )
        )
        readings = [(started, Decimal(0)), (stopped, Decimal(wh))]
        usage = SessionUsage(started, stopped, energy_steps(readings))
        prices.append(price_session(usage, terms))
    session_rows = ChargingSession.objects.bulk_create(session_rows, batch_size=1000)
    SessionCharge.objects.bulk_create(
        [
            SessionCharge(
                session=session,
                account=accounts[n % len(accounts)],
                method=SessionCharge.Method.INVOICE,
                status=SessionCharge.Status.TO_INVOICE,
                tariff_name=terms.name,
                priced_at=session.stopped_at,
                **settlement.frozen_price(price),
            )
            for n, (session, price) in enumerate(zip(session_rows, prices, strict=True))
        ],
        batch_size=1000,
    )


def check(invoices: list) -> list[str]:
    """What is wrong with the run's result; empty when nothing is."""
    from billing.models import Invoice, SessionCharge

    problems = []
    numbers = sorted(Invoice.objects.filter(kind="invoice").values_list("number", flat=True))
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("invoice numbers are not 1..N")
    if SessionCharge.objects.exclude(status=SessionCharge.Status.INVOICED).exists():
        problems.append("sessions left uninvoiced")
    # Summed here: SQLite's SUM of decimals goes through floats.
    charged = sum(SessionCharge.objects.values_list("gross", flat=True), Decimal(0))
    invoiced = sum(Invoice.objects.values_list("gross", flat=True), Decimal(0))
    if charged != invoiced:
        problems.append(f"sessions total {charged} != invoices total {invoiced}")
    if len(invoices) != len(numbers):
        problems.append(f"{len(invoices)} issued by the run, {len(numbers)} in the database")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--pdfs", type=int, help="render this many PDFs (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not 1 <= args.customers <= 100_000 or not 1 <= args.sessions <= 1_000_000:
        raise SystemExit("Bounds: 1..100000 customers, 1..1000000 sessions")

    with scratch_database("inv", keep=args.keep) as database:
        run(args, database)


def run(args: argparse.Namespace, database: str) -> None:
    from django.conf import settings

    from billing import documents, invoicing

    period = invoicing.last_month()
    month_start, _end = invoicing.month_bounds(period)  # local midnight, as UTC
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"database: {database}; month {period:%Y-%m} ({settings.TIME_ZONE})")

    t0 = time.perf_counter()
    days = calendar.monthrange(period.year, period.month)[1]
    build_data(args.customers, args.sessions, month_start, days)
    print(
        f"data:        {args.customers} customers, {args.sessions} priced sessions "
        f"in {time.perf_counter() - t0:.1f} s"
    )

    t0 = time.perf_counter()
    invoices = invoicing.issue_monthly_invoices(period)
    seconds = time.perf_counter() - t0
    lines = sum(invoice.lines.count() for invoice in invoices)
    print(
        f"monthly run: {len(invoices)} invoices, {lines} lines in {seconds:.1f} s: "
        f"{len(invoices) / seconds:.0f} invoices/s, {lines / seconds:.0f} sessions/s; "
        f"peak RSS {_peak_rss_mib():.0f} MiB"
    )

    t0 = time.perf_counter()
    again = invoicing.issue_monthly_invoices(period)
    print(f"run again:   {len(again)} invoices issued in {time.perf_counter() - t0:.1f} s")

    problems = check(invoices)
    print("check:       " + ("ok" if not problems else "; ".join(problems)))

    to_render = invoices[: args.pdfs] if args.pdfs is not None else invoices
    size = 0
    checkpoints = {len(to_render) * n // 4 for n in (1, 2, 3)}
    rss = []
    t0 = time.perf_counter()
    for done, invoice in enumerate(to_render, start=1):
        size += len(documents.render_pdf(invoice))
        if done in checkpoints:
            rss.append(f"{done}: {_rss_mib():.0f}")
    seconds = time.perf_counter() - t0
    if to_render:
        print(
            f"PDFs:        {len(to_render)} rendered in {seconds:.1f} s: "
            f"{len(to_render) / seconds:.1f} PDFs/s, {1000 * seconds / len(to_render):.0f} ms "
            f"and {size / len(to_render) / 1024:.0f} KiB each; peak RSS {_peak_rss_mib():.0f} MiB"
        )
        print(f"RSS MiB after N PDFs: {', '.join(rss)}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes count)")
    if problems or again:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
