"""Site planning on a small hand-made map (insights/planning.py)."""

import pytest

from insights import planning
from insights.planning import Candidate, EmptySearches, SiteFigures

# About 1.11 km per 0.01° of latitude.
CENTRE = (59.33, 18.06)
NORTH = (59.40, 18.06)  # ~7.8 km north of CENTRE
FAR = (60.33, 18.06)  # ~111 km away


def test_distance_is_great_circle_km() -> None:
    assert planning.distance_km(CENTRE, (59.34, 18.06)) == pytest.approx(1.112, abs=0.01)


def test_sites_rank_by_full_hours_turned_away_and_empty_searches_near_them() -> None:
    sites = [
        SiteFigures(1, "Centre", CENTRE, full_hours=10, turned_away=2),
        SiteFigures(2, "North", NORTH, full_hours=3, turned_away=1),
        SiteFigures(3, "Far", FAR, full_hours=0, turned_away=0),
    ]
    # 15 empty searches 1.1 km north of North (not within 5 km of Centre), 4 at Far.
    searches = [EmptySearches((59.41, 18.06), 15), EmptySearches(FAR, 4)]
    ranked = planning.rank_sites(sites, searches)
    assert [(d.name, d.unmet, d.empty_searches) for d in ranked] == [
        ("North", 19, 15),
        ("Centre", 12, 0),
        ("Far", 4, 4),
    ]


def test_a_candidate_where_drivers_found_nothing_beats_one_beside_a_site() -> None:
    sites = planning.rank_sites([SiteFigures(1, "Centre", CENTRE, 0, 0)], [])
    searches = [EmptySearches((59.41, 18.06), 20)]
    beside = Candidate(1, "Beside Centre", (59.331, 18.06))
    gap = Candidate(2, "Where they searched", (59.41, 18.06))
    nowhere = Candidate(3, "Nowhere", FAR, expected_traffic=1000)
    scored = planning.score_candidates([beside, gap, nowhere], sites, searches)
    assert [c.name for c in scored] == ["Where they searched", "Nowhere", "Beside Centre"]
    top = scored[0]
    # All 20 searches on the spot, 8.9 km from Centre: a full gap.
    assert (top.score, top.unmet_nearby) == (20.0, 20.0)
    assert top.nearest_site_km == pytest.approx(8.9, abs=0.05)
    # Far from everything, only its traffic: 1000 vehicles a day count as one driver.
    assert scored[1].score == 1.0
    assert scored[2].score == 0.0


def test_an_overflowing_site_counts_for_the_candidates_near_it() -> None:
    sites = planning.rank_sites([SiteFigures(1, "Centre", CENTRE, 30, 10)], [])
    near = Candidate(1, "3.3 km north", (59.36, 18.06))
    scored = planning.score_candidates([near], sites, [])
    # 40 unmet at Centre, weighed (1 - 3.34/5), gap at least 3 km: full.
    assert scored[0].unmet_nearby == pytest.approx(40 * (1 - 3.336 / 5), abs=0.1)
    assert scored[0].score == scored[0].unmet_nearby
