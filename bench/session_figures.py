"""What one live session update costs: the figures the session page gets at each
MeterValues (portal/live_figures.py), for sessions of growing length.

    .venv/bin/python bench/session_figures.py [--minutes 60 240 480] [--interval 10]

Each session has one sample every `interval` seconds of five measurands (energy
register, power, SoC, current, voltage), as a charger configured with
MeterValuesSampledData of that kind sends them. The cost grows with the session: the
price so far is computed from every energy reading (time-of-use splits need them).
Prints p50/p95 of building the message, and the queries it makes.
"""

import argparse
import statistics
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from scratch_database import scratch_database

MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh"),
    ("Power.Active.Import", "W"),
    ("SoC", "Percent"),
    ("Current.Import", "A"),
    ("Voltage", "V"),
)


def make_session(minutes: int, interval: int) -> tuple[Any, int]:
    """A running session of `minutes` with its samples; (session, number of samples)."""
    from django.utils import timezone

    from billing.models import Tariff, TariffAssignment
    from stations.models import ChargePoint, ChargingSession, Connector, MeterSample, Site
    from users.models import IdToken, User

    site = Site.objects.create(name=f"Bench {minutes} min")
    charge_point = ChargePoint.objects.create(charge_point_id=f"BENCH-FIG-{minutes}", site=site)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    tariff = Tariff.objects.create(name=f"Bench {minutes}", price_per_kwh=Decimal("3.20"))
    TariffAssignment.objects.create(tariff=tariff, site=site)
    driver = User.objects.create_user(f"bench{minutes}@example.com")
    token = IdToken.objects.create(uid=f"BENCHFIG{minutes}", owner=driver)
    started = timezone.now() - timedelta(minutes=minutes)
    session = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_token=token,
        id_tag=token.uid,
        started_at=started,
        meter_start_wh=0,
    )
    samples = []
    for step in range(minutes * 60 // interval):
        at = started + timedelta(seconds=step * interval)
        values = (step * 30, 11_000, 20 + step * interval // 200, 16, 230)
        for (measurand, unit), value in zip(MEASURANDS, values, strict=True):
            samples.append(
                MeterSample(
                    charge_point=charge_point,
                    connector_id=1,
                    session=session,
                    timestamp=at,
                    measurand=measurand,
                    unit=unit,
                    value=str(value),
                    value_decimal=Decimal(value),
                )
            )
    MeterSample.objects.bulk_create(samples, batch_size=5000)
    return session, len(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[60, 240, 480])
    parser.add_argument("--interval", type=int, default=10, help="seconds between samples")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    with scratch_database("figures") as database:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from portal.live_figures import figures_message

        print(f"database: {database}")
        print(f"samples every {args.interval} s, {len(MEASURANDS)} measurands")
        print(f"{'session':>10} {'samples':>8} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
        for minutes in args.minutes:
            session, count = make_session(minutes, args.interval)
            figures_message(session)  # warm-up
            timings = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                figures_message(session)
                timings.append((time.perf_counter() - start) * 1000)
            with CaptureQueriesContext(connection) as queries:
                figures_message(session)
            p95 = statistics.quantiles(timings, n=20)[-1]
            print(
                f"{minutes:>6} min {count:>8} {statistics.median(timings):>8.1f} {p95:>8.1f}"
                f" {len(queries):>8}"
            )


if __name__ == "__main__":
    main()
