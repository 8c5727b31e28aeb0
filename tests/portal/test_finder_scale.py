"""The finder filters in SQL and reads one page at a time (stations/finder.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.finder import StationFilter, find_sites, haversine_km
from stations.models import ChargePoint
from tests.portal.places import place

pytestmark = pytest.mark.django_db


def test_available_now_follows_each_chargers_own_heartbeat_interval():
    quick = place("Quick")  # heartbeat 300 s, offline after 2 x 300 s
    slow = place("Slow")
    ChargePoint.objects.filter(site=quick).update(
        heartbeat_interval=60, last_seen_at=timezone.now() - timedelta(seconds=200)
    )
    ChargePoint.objects.filter(site=slow).update(
        heartbeat_interval=3600, last_seen_at=timezone.now() - timedelta(seconds=200)
    )
    found = [r.site for r in find_sites(StationFilter(available_now=True))]
    assert slow in found and quick not in found


def test_a_site_matches_when_one_connector_meets_every_filter():
    mixed = place("Mixed", connectors=(("Type2", "150", "Faulted"), ("CCS2", "50", "Available")))
    wanted = StationFilter(connector_type="CCS2", min_power_kw=Decimal("100"))
    assert mixed not in [r.site for r in find_sites(wanted)]
    found = list(find_sites(StationFilter(connector_type="CCS2", available_now=True)))
    assert [r.site for r in found] == [mixed]
    assert len(found[0].connectors) == 2  # every connector of a matching site is shown


def test_a_slice_reads_only_its_sites_in_name_order(django_assert_num_queries):
    sites = [place(f"Row {n:02d}") for n in range(12)]
    search = find_sites(StationFilter())
    with django_assert_num_queries(3):  # count, the page's site ids, their connectors
        page = search[5:8]
    assert [r.site for r in page] == sites[5:8]
    assert len(search) == 12
    assert search[11].site == sites[11]
    with pytest.raises(IndexError):
        search[12]


def test_near_fills_far_pages_by_widening_the_box_and_keeps_exact_order():
    here = (57.70, 11.97)
    spots = [
        place("Göteborg", lat="57.706", lon="11.938"),
        place("Kungsbacka", lat="57.487", lon="12.076"),
        place("Malmö", lat="55.605", lon="13.003"),
        place("Stockholm", lat="59.329", lon="18.068"),
        place("Kiruna", lat="67.855", lon="20.225"),
        place("Nowhere", lat=None, lon=None),
    ]
    search = find_sites(StationFilter(near=here))
    everything = list(search)
    assert [r.site for r in everything] == spots
    distances = [r.distance_km for r in everything[:-1]]
    assert distances == sorted(distances)
    assert everything[-1].distance_km is None
    # One page at a time gives the same order as reading everything.
    assert [r.site for r in search[2:4]] == spots[2:4]
    assert [r.site for r in search[4:6]] == spots[4:6]
    assert everything[3].distance_km == pytest.approx(haversine_km(*here, 59.329, 18.068), rel=1e-9)


def test_near_across_the_antimeridian():
    east = place("Fiji east", lat="-17.0", lon="179.9")
    west = place("Fiji west", lat="-17.0", lon="-179.9")
    far = place("Far", lat="-17.0", lon="170.0")
    found = [r.site for r in find_sites(StationFilter(near=(-17.0, 179.95)))]
    assert found[:2] == [east, west] or found[:2] == [west, east]
    assert found[2] == far


def test_station_list_pages_keep_the_filters(client):
    for number in range(55):
        place(f"Page {number:02d}")
    first = client.get(reverse("portal:stations"), {"available": "on"})
    assert len(first.context["results"]) == 50
    assert len(first.context["markers"]) == 50
    page = first.content.decode()
    assert "55 places" in page and "available=on&amp;page=2" in page
    second = client.get(reverse("portal:stations"), {"available": "on", "page": "2"})
    assert len(second.context["results"]) == 5
    assert "page=1" in second.content.decode()
    # A page past the end shows the last one, not an error.
    assert client.get(reverse("portal:stations"), {"page": "99"}).status_code == 200
