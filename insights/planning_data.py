"""Site planning's database side: each site's unmet demand over a period and the
searches that found nothing free, read for insights/planning.py.

Time fully occupied is the time every connector of the site had a session (sessions
swept in time order); sessions turned away are remote starts the charger refused or never
answered, and Authorize or StartTransaction refused at the charger (RefusedStart);
searches come from SearchRecord (grid cells, no personal data), placed at their
cell's centre.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q

from insights import planning, refusals
from insights.models import CandidateLocation, SearchRecord
from insights.searches import GRID_DEGREES
from stations.models import ChargerCommand, ChargingSession, Connector, Site


def full_hours(site_ids: list[int], start: datetime, end: datetime) -> dict[int, float]:
    """Hours in [start, end) during which every connector of each site was in a session."""
    connectors = dict(
        Connector.objects.filter(charge_point__site_id__in=site_ids)
        .values("charge_point__site_id")
        .annotate(n=Count("pk"))
        .values_list("charge_point__site_id", "n")
    )
    events: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    sessions = ChargingSession.objects.filter(
        Q(stopped_at__gt=start) | Q(stopped_at__isnull=True),
        connector__charge_point__site_id__in=site_ids,
        started_at__lt=end,
    ).values_list("connector__charge_point__site_id", "started_at", "stopped_at")
    for site_id, started, stopped in sessions.iterator(chunk_size=5000):
        events[site_id].append((max(started, start), 1))
        events[site_id].append((min(stopped or end, end), -1))
    full: dict[int, float] = {}
    for site_id in site_ids:
        busy, since, total = 0, None, timedelta()
        # Ends before starts at the same instant: a connector handed over is not "full".
        for at, step in sorted(events.get(site_id, []), key=lambda e: (e[0], e[1])):
            if since is not None and busy >= connectors.get(site_id, 0):
                total += at - since
            busy += step
            since = at
        full[site_id] = round(total.total_seconds() / 3600, 2)
    return full


def turned_away(site_ids: list[int], start: datetime, end: datetime) -> dict[int, int]:
    """Starts turned away in [start, end) per site: remote starts the charger rejected or
    never answered, and starts refused at the charger (insights/refusals.py)."""
    refused = Q(status=ChargerCommand.Status.ANSWERED, response__status="Rejected") | Q(
        status__in=[
            ChargerCommand.Status.ERROR,
            ChargerCommand.Status.TIMEOUT,
            ChargerCommand.Status.OFFLINE,
        ]
    )
    counts: dict[int, int] = defaultdict(int)
    for site_id, n in (
        ChargerCommand.objects.filter(
            refused,
            action="RemoteStartTransaction",
            charge_point__site_id__in=site_ids,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values("charge_point__site_id")
        .annotate(n=Count("pk"))
        .values_list("charge_point__site_id", "n")
    ):
        counts[site_id] += n
    for site_id, actions in refusals.counts_by_site(start, end, site_ids).items():
        counts[site_id] += sum(actions.values())
    return dict(counts)


def empty_searches(start: datetime, end: datetime) -> list[planning.EmptySearches]:
    """Searches in [start, end) that found nothing free, per grid cell (its centre)."""
    half = float(GRID_DEGREES) / 2
    cells = (
        SearchRecord.objects.filter(
            hour__gte=start,
            hour__lt=end,
            found_free=False,
            cell_latitude__isnull=False,
            cell_longitude__isnull=False,
        )
        .values("cell_latitude", "cell_longitude")
        .annotate(n=Count("pk"))
    )
    return [
        planning.EmptySearches(
            (float(c["cell_latitude"]) + half, float(c["cell_longitude"]) + half), c["n"]
        )
        for c in cells
    ]


def plan(
    start: datetime, end: datetime
) -> tuple[list[planning.SiteDemand], list[planning.CandidateScore]]:
    """Existing sites ranked by unmet demand, and the candidate locations scored, over
    [start, end)."""
    sites = list(Site.objects.filter(latitude__isnull=False, longitude__isnull=False))
    site_ids = [site.pk for site in sites]
    full = full_hours(site_ids, start, end)
    refused = turned_away(site_ids, start, end)
    searches = empty_searches(start, end)
    ranked = planning.rank_sites(
        [
            planning.SiteFigures(
                site.pk,
                site.name,
                (float(site.latitude), float(site.longitude)),
                full.get(site.pk, 0.0),
                refused.get(site.pk, 0),
            )
            for site in sites
        ],
        searches,
    )
    candidates = [
        planning.Candidate(
            c.pk, c.name, (float(c.latitude), float(c.longitude)), c.expected_traffic
        )
        for c in CandidateLocation.objects.all()
    ]
    return ranked, planning.score_candidates(candidates, ranked, searches)
