"""Predictive maintenance (insights/maintenance.py): a rise against the charger's own
history AND its model's peers, and its precision and recall on generated fleets with
injected degradation (insights/degradation.py)."""

from datetime import date, timedelta

import pytest

from insights import degradation, maintenance
from insights.maintenance import Charger, Day

AS_OF = date(2026, 6, 1)
RECENT = AS_OF - timedelta(days=maintenance.RECENT_DAYS)
FIRST = RECENT - timedelta(days=maintenance.BASELINE_DAYS)


def charger(key: str, earlier: Day, recent: Day, model: str = "DC50") -> Charger:
    days = {}
    day = FIRST
    while day < AS_OF:
        days[day] = recent if day >= RECENT else earlier
        day += timedelta(days=1)
    return Charger(key, model, days)


QUIET = Day(faults=0, boots=0, starts=8, failed_starts=0, delivered_kwh=190, possible_kwh=200)


def test_faults_rising_against_own_history_and_peers_rank_first_with_evidence() -> None:
    wearing = charger(
        "CP-WEAR", QUIET, Day(faults=2, starts=8, delivered_kwh=190, possible_kwh=200)
    )
    peers = [charger(f"CP-{i}", QUIET, QUIET) for i in range(4)]
    risks = maintenance.assess([*peers, wearing], AS_OF)
    top = risks[0]
    assert top.key == "CP-WEAR" and top.flagged
    assert [e.metric for e in top.evidence] == [maintenance.FAULTS]
    evidence = top.evidence[0]
    assert (evidence.recent, evidence.own, evidence.peers) == (2.0, 0.0, 0.0)
    # 14 faults where none were expected: (14 - 0) / sqrt(0 + 1).
    assert top.score == 14.0
    assert not any(r.flagged for r in risks[1:])


def test_power_shortfall_and_failed_starts_count_too() -> None:
    weak = Day(starts=8, failed_starts=3, delivered_kwh=140, possible_kwh=200)
    wearing = charger("CP-WEAR", QUIET, weak)
    peers = [charger(f"CP-{i}", QUIET, QUIET) for i in range(3)]
    top = maintenance.assess([*peers, wearing], AS_OF)[0]
    metrics = {e.metric: e for e in top.evidence}
    assert set(metrics) == {maintenance.FAILED_STARTS, maintenance.SHORTFALL}
    # Shortfall from 5 % to 30 %: 25 points over 5-point units.
    assert metrics[maintenance.SHORTFALL].risk == pytest.approx(5.0)


def test_a_charger_always_this_bad_or_a_model_worse_everywhere_is_not_flagged() -> None:
    faulty = Day(faults=2, starts=8, delivered_kwh=190, possible_kwh=200)
    always_bad = charger("CP-ALWAYS", faulty, faulty)
    peers = [charger(f"CP-{i}", QUIET, QUIET) for i in range(3)]
    # A whole model got worse together (a cold week, a bad firmware for all): no single wear.
    model_wide = [charger(f"AC-{i}", QUIET, faulty, model="AC22") for i in range(4)]
    risks = maintenance.assess([always_bad, *peers, *model_wide], AS_OF)
    assert not [r.key for r in risks if r.flagged]


def test_a_charger_without_peers_is_judged_against_its_own_history() -> None:
    alone = charger("CP-ALONE", QUIET, Day(boots=1, starts=8, delivered_kwh=190, possible_kwh=200))
    (risk,) = maintenance.assess([alone], AS_OF)
    assert risk.flagged and risk.evidence[0].metric == maintenance.BOOTS
    assert risk.evidence[0].peers is None


# The floor the README states: on each generated fleet (60 chargers of 3 models, 12 failing
# after 10 to 28 days of wear, 180 days, assessed daily) precision >= 0.75 and recall >= 0.7.
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_precision_and_recall_of_flagging_before_a_failure(seed: int) -> None:
    measured = degradation.measure(degradation.generate(seed))
    assert measured.failures == 12
    assert measured.precision >= 0.75, measured
    assert measured.recall >= 0.7, measured
