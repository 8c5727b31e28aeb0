"""Predictive maintenance: chargers whose fault rate, failed-start rate, boot frequency or
delivered-power shortfall rises, against their own history and against chargers of the
same model, ranked by a risk score with its evidence.

Pure: the input is each charger's daily figures (insights/maintenance_data.py reads them
from the database), the output the ranked risks. A metric counts only when it rose against
BOTH references (its own last weeks and its model's peers now): a charger that was always
a bit worse, or a whole model that got worse in a cold week, is not one charger wearing out.

Each rise is a z-like figure: for counts (faults, boots, failed starts) the observed count
in the recent window against the count the reference rate expects, over its Poisson spread
(sqrt(expected + 1)); for the power shortfall (1 - delivered / what the rated power would
have delivered in the same charging time), the rise in SHORTFALL_UNIT steps. The risk score
is the sum over metrics; FLAG_SCORE or more is flagged. Measured on generated fleets with
injected degradation in insights/degradation.py (precision and recall: README "Insights").
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from math import sqrt
from statistics import median

RECENT_DAYS = 7
BASELINE_DAYS = 56
# A shortfall 5 percentage points above its reference counts as one unit of risk.
SHORTFALL_UNIT = 0.05
FLAG_SCORE = 4.0

FAULTS = "faults"
FAILED_STARTS = "failed_starts"
BOOTS = "boots"
SHORTFALL = "power_shortfall"
METRICS = (FAULTS, FAILED_STARTS, BOOTS, SHORTFALL)


@dataclass(frozen=True)
class Day:
    """One charger's figures for one day."""

    faults: int = 0
    boots: int = 0
    starts: int = 0
    failed_starts: int = 0
    # Energy delivered while charging, and what the rated power would have delivered then
    # (or sums of power samples and of the rated power per sample: only the ratio counts).
    delivered_kwh: float = 0.0
    possible_kwh: float = 0.0


@dataclass(frozen=True)
class Charger:
    """A charger's key (its charge point id), its model and its daily figures."""

    key: str
    model: str
    days: Mapping[date, Day]


@dataclass(frozen=True)
class Totals:
    days: int
    faults: int
    boots: int
    starts: int
    failed_starts: int
    delivered_kwh: float
    possible_kwh: float

    def rate(self, metric: str) -> float | None:
        """Faults and boots per day, failed starts per start, the power shortfall; None
        where there is nothing to divide by."""
        if metric == FAULTS:
            return self.faults / self.days if self.days else None
        if metric == BOOTS:
            return self.boots / self.days if self.days else None
        if metric == FAILED_STARTS:
            return self.failed_starts / self.starts if self.starts else None
        if self.possible_kwh <= 0:
            return None
        return max(0.0, 1 - self.delivered_kwh / self.possible_kwh)


def totals(charger: Charger, start: date, end: date) -> Totals:
    """The charger's figures added up over [start, end)."""
    days = [charger.days[d] for d in _dates(start, end) if d in charger.days]
    return Totals(
        days=(end - start).days,
        faults=sum(d.faults for d in days),
        boots=sum(d.boots for d in days),
        starts=sum(d.starts for d in days),
        failed_starts=sum(d.failed_starts for d in days),
        delivered_kwh=sum(d.delivered_kwh for d in days),
        possible_kwh=sum(d.possible_kwh for d in days),
    )


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


@dataclass(frozen=True)
class Evidence:
    """One metric's rise: its recent value, its own earlier value, its model's peers' value
    now (None without peers), and the risk it adds."""

    metric: str
    recent: float
    own: float | None
    peers: float | None
    risk: float


@dataclass(frozen=True)
class Risk:
    key: str
    model: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_SCORE


def rise(metric: str, recent: Totals, reference: float) -> float:
    """How far the recent window rose above what `reference` (a rate) expects; 0 or less
    is no rise."""
    if metric == SHORTFALL:
        value = recent.rate(SHORTFALL)
        return 0.0 if value is None else (value - reference) / SHORTFALL_UNIT
    if metric == FAILED_STARTS:
        observed, exposure = recent.failed_starts, recent.starts
    else:
        observed, exposure = getattr(recent, metric), recent.days
    expected = reference * exposure
    return (observed - expected) / sqrt(expected + 1)


def assess(chargers: Sequence[Charger], as_of: date) -> list[Risk]:
    """Every charger's risk on `as_of` (its recent window ends the day before), highest
    first; the evidence lists the metrics that rose against both references."""
    recent_start = as_of - timedelta(days=RECENT_DAYS)
    baseline_start = recent_start - timedelta(days=BASELINE_DAYS)
    recent = {c.key: totals(c, recent_start, as_of) for c in chargers}
    own = {c.key: totals(c, baseline_start, recent_start) for c in chargers}
    by_model: dict[str, list[str]] = {}
    for c in chargers:
        by_model.setdefault(c.model, []).append(c.key)
    risks = []
    for c in chargers:
        evidence = []
        for metric in METRICS:
            own_rate = own[c.key].rate(metric)
            peer_rates = [
                rate
                for other in by_model[c.model]
                if other != c.key and (rate := recent[other].rate(metric)) is not None
            ]
            # The median: a few peers wearing out at the same time do not hide each other.
            peer_rate = median(peer_rates) if peer_rates else None
            references = [ref for ref in (own_rate, peer_rate) if ref is not None]
            if not references:
                continue
            risk = min(rise(metric, recent[c.key], ref) for ref in references)
            if risk > 0.5:
                value = recent[c.key].rate(metric)
                evidence.append(Evidence(metric, value or 0.0, own_rate, peer_rate, round(risk, 2)))
        score = round(sum(e.risk for e in evidence), 2)
        risks.append(Risk(c.key, c.model, score, evidence))
    return sorted(risks, key=lambda r: (-r.score, r.key))
