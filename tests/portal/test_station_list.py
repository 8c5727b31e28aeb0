from decimal import Decimal

import pytest
from django.urls import reverse

from stations.finder import StationFilter, find_sites, haversine_km, parse_position
from stations.models import Site
from tests.portal.places import place

pytestmark = pytest.mark.django_db


def test_haversine_gothenburg_to_stockholm_is_about_400_km():
    assert haversine_km(57.7089, 11.9746, 59.3293, 18.0686) == pytest.approx(398, abs=5)


@pytest.mark.parametrize("text", ["", "57.7", "a,b", "91,0", "0,181", "nan,1", "1,2,3"])
def test_a_position_that_is_not_one_is_ignored(text):
    assert parse_position(text) is None


def test_position_is_latitude_then_longitude():
    assert parse_position("57.7, 11.9") == (57.7, 11.9)


def test_home_and_station_list_show_sites_with_connector_status(client):
    site = place(
        "Lindholmen", connectors=(("Type2", "22", "Available"), ("CCS2", "150", "Charging"))
    )
    for url in ("/", reverse("portal:stations")):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert site.name in page
        assert reverse("portal:station", args=[site.pk]) in page
        assert "1 of 2 available" in page
        assert "Charging" in page


def test_a_connector_of_an_offline_charger_is_not_available():
    site = place("Offline", online=False)
    [result] = [r for r in find_sites(StationFilter()) if r.site == site]
    assert result.available_count == 0


def test_filters_connector_type_power_and_available_now(client):
    ac = place("AC", connectors=(("Type2", "22", "Available"),))
    dc_busy = place("DC busy", connectors=(("CCS2", "150", "Charging"),))
    dc_free = place("DC free", connectors=(("CCS2", "50", "Available"),))

    page = client.get(reverse("portal:stations"), {"connector_type": "CCS2"}).content.decode()
    assert dc_busy.name in page and dc_free.name in page and ac.name not in page

    page = client.get(reverse("portal:stations"), {"min_power": "100"}).content.decode()
    assert dc_busy.name in page and dc_free.name not in page and ac.name not in page

    page = client.get(
        reverse("portal:stations"), {"connector_type": "CCS2", "available": "on"}
    ).content.decode()
    assert dc_free.name in page and dc_busy.name not in page


def test_a_bad_filter_value_is_ignored_not_an_error(client):
    site = place("Any")
    response = client.get(reverse("portal:stations"), {"min_power": "lots", "near": "x"})
    assert response.status_code == 200
    assert site.name in response.content.decode()


def test_near_sorts_by_distance_sites_without_position_last(client):
    far = place("Kiruna", lat="67.855", lon="20.225")
    near = place("Lindholmen", lat="57.706", lon="11.938")
    nowhere = place("Nowhere", lat=None, lon=None)
    found = find_sites(StationFilter(near=(57.70, 11.97)))
    order = [r.site for r in found if r.site in (far, near, nowhere)]
    assert order == [near, far, nowhere]
    assert found[0].distance_km is not None and found[0].distance_km < 5

    page = client.get(reverse("portal:stations"), {"near": "57.70,11.97"}).content.decode()
    assert page.index(near.name) < page.index(far.name) < page.index(nowhere.name)
    assert "km away" in page


def test_sites_with_coordinates_become_map_markers_and_the_list_needs_no_script(client):
    site = place("Mapped", lat="57.5", lon="12.0")
    response = client.get(reverse("portal:stations"))
    markers = response.context["markers"]
    assert {"name": site.name, "lat": 57.5, "lon": 12.0}.items() <= markers[0].items()
    page = response.content.decode()
    assert 'id="map-markers"' in page and "leaflet" in page


def test_station_list_reads_the_database_in_few_queries(client, django_assert_max_num_queries):
    for number in range(15):
        place(
            f"Busy {number}", connectors=(("Type2", "22", "Available"), ("CCS2", "50", "Faulted"))
        )
    # Heartbeat intervals in use, count, the page's site ids, their connectors, the
    # maintenance windows in force on their chargers (operations/maintenance.py), which
    # sites are stopped in an emergency (operations/emergency.py), the prices now
    # (billing.tariffs.current_prices: assignments, time-of-use periods).
    with django_assert_max_num_queries(8):
        response = client.get(reverse("portal:stations"), {"available": "on"})
    assert response.status_code == 200
    assert len(response.context["results"]) >= 15


def test_min_power_compares_numbers_not_text():
    site = place("Nine", connectors=(("Type2", "9", "Available"),))
    found = [r.site for r in find_sites(StationFilter(min_power_kw=Decimal("10")))]
    assert site not in found


def test_search_by_place_name_address_or_city(client):
    harbour = place("Hamnen")
    Site.objects.filter(pk=harbour.pk).update(address="Kajgatan 1", city="Malmö")
    elsewhere = place("Centrum")  # Göteborg
    url = reverse("portal:stations")

    for words in ("hamnen", "Kajgatan", "malm", "kajgatan hamnen"):
        found = client.get(url, {"q": words}).context["results"]
        assert [r.site for r in found] == [harbour], words
    assert [r.site for r in client.get(url, {"q": "kajgatan centrum"}).context["results"]] == []
    page = client.get(url, {"q": "Göteborg"}).content.decode()
    assert elsewhere.name in page and harbour.name not in page
    assert 'name="q"' in page and 'value="Göteborg"' in page
    # Beside "near me": a place and a position together, nearest first among the matches.
    found = client.get(url, {"q": "Malmö", "near": "55.6,13.0"}).context["results"]
    assert [r.site for r in found] == [harbour]
