"""Site planning: where drivers go without a free connector, and where to build next.

Pure: plain figures in, ranked rows out (insights/planning_data.py reads the database).

Unmet demand of an existing site, over a period: its hours fully occupied (every
connector busy: a driver arriving then found nothing), the sessions it turned away
(Authorize or start refused) and the searches near it (within NEAR_KM) that found
nothing free; each counts one.

A candidate location staff enter scores the unmet demand around it, weighed down with
distance (full weight on the spot, none at NEAR_KM): the searches that found nothing
free and the unmet demand of the existing sites there (their overflow), plus
TRAFFIC_SHARE of the expected daily traffic staff may give; then times its gap to the
network (its distance to the nearest existing site over SPACING_KM, at most 1): a
candidate beside an existing site mostly shares that site's drivers.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from stations.finder import haversine_km

NEAR_KM = 5.0
SPACING_KM = 3.0
# One passing vehicle a day in a thousand is counted as one driver who would charge there.
TRAFFIC_SHARE = 0.001


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points: the finder's."""
    return haversine_km(*a, *b)


@dataclass(frozen=True)
class SiteFigures:
    key: int
    name: str
    point: tuple[float, float]
    full_hours: float
    turned_away: int


@dataclass(frozen=True)
class EmptySearches:
    """Searches from one grid cell (its centre) that found nothing free."""

    point: tuple[float, float]
    count: int


@dataclass(frozen=True)
class SiteDemand:
    key: int
    name: str
    point: tuple[float, float]
    full_hours: float
    turned_away: int
    empty_searches: int

    @property
    def unmet(self) -> float:
        return self.full_hours + self.turned_away + self.empty_searches


@dataclass(frozen=True)
class Candidate:
    key: int
    name: str
    point: tuple[float, float]
    expected_traffic: int | None = None


@dataclass(frozen=True)
class CandidateScore:
    key: int
    name: str
    point: tuple[float, float]
    score: float
    unmet_nearby: float
    nearest_site_km: float | None


def _weight(km: float) -> float:
    return max(0.0, 1 - km / NEAR_KM)


def rank_sites(sites: Sequence[SiteFigures], searches: Sequence[EmptySearches]) -> list[SiteDemand]:
    """Existing sites by unmet demand, highest first (then by name)."""
    ranked = [
        SiteDemand(
            site.key,
            site.name,
            site.point,
            site.full_hours,
            site.turned_away,
            sum(s.count for s in searches if distance_km(s.point, site.point) <= NEAR_KM),
        )
        for site in sites
    ]
    return sorted(ranked, key=lambda d: (-d.unmet, d.name))


def score_candidates(
    candidates: Sequence[Candidate],
    sites: Sequence[SiteDemand],
    searches: Sequence[EmptySearches],
) -> list[CandidateScore]:
    """Candidate locations by score, highest first (then by name); see the module doc."""
    scored = []
    for candidate in candidates:
        unmet = sum(s.count * _weight(distance_km(s.point, candidate.point)) for s in searches)
        unmet += sum(
            site.unmet * _weight(distance_km(site.point, candidate.point)) for site in sites
        )
        traffic = TRAFFIC_SHARE * (candidate.expected_traffic or 0)
        nearest = min((distance_km(site.point, candidate.point) for site in sites), default=None)
        gap = 1.0 if nearest is None else min(1.0, nearest / SPACING_KM)
        scored.append(
            CandidateScore(
                candidate.key,
                candidate.name,
                candidate.point,
                round((unmet + traffic) * gap, 2),
                round(unmet, 2),
                None if nearest is None else round(nearest, 2),
            )
        )
    return sorted(scored, key=lambda c: (-c.score, c.name))
