""" "A free charger near me": real chargers free connectors near and far from a driver's
watch, who is pushed once; the matching rule; the portal's start, position and stop."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from notifications import nearby
from notifications.models import NearbyWatch, Notification, PushSubscription
from stations.models import ChargePoint, Connector, Site
from tests.conftest import register
from tests.notifications.push_service import PUBLIC_KEY, VAPID, Browser, PushService, vapid_claims
from tests.stations.ocpp_wire import ago, iso, send
from tests.waiting import eventually
from users.models import User

# The driver stands here; a degree of latitude is 111.195 km (finder.KM_PER_DEGREE_LATITUDE).
HERE = (57.700000, 11.970000)
ONE_KM_NORTH = Decimal("57.708993")
FIVE_KM_NORTH = Decimal("57.744966")


def located_charger(charge_point_id: str, latitude: Decimal, status: str = "Occupied") -> Site:
    site = Site.objects.create(
        name=f"Site {charge_point_id}", latitude=latitude, longitude=Decimal("11.970000")
    )
    charge_point = register(charge_point_id, site=site)
    Connector.objects.create(
        charge_point=charge_point,
        connector_id=1,
        connector_type=Connector.Type.CCS2,
        max_power_kw=Decimal(50),
        status=status,
    )
    return site


def watch(user: User, radius: str = "2", **wishes: object) -> NearbyWatch:
    return nearby.start(user, *HERE, Decimal(radius), **wishes)


# --- From the charger's side ----------------------------------------------------------------


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    service = PushService().start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def push_server(start_server: Callable[..., str]) -> str:
    """A server that pushes with the test VAPID keys, to the local push service."""
    return start_server(
        WEBPUSH_VAPID_PUBLIC_KEY=VAPID["WEBPUSH_VAPID_PUBLIC_KEY"],
        WEBPUSH_VAPID_PRIVATE_KEY=VAPID["WEBPUSH_VAPID_PRIVATE_KEY"],
        WEBPUSH_VAPID_SUBJECT=VAPID["WEBPUSH_VAPID_SUBJECT"],
        WEBPUSH_ALLOW_HTTP_ENDPOINTS="1",
    )


def available(at_minutes_ago: float = 0) -> dict[str, object]:
    return {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": iso(ago(minutes=at_minutes_ago)),
    }


async def test_a_driver_2_km_away_is_pushed_once_when_a_connector_1_km_away_frees_not_5_km(
    charger, push_server, push_service, db_access
):
    near = await sync_to_async(located_charger)("CP-NEAR-1KM", ONE_KM_NORTH)
    await sync_to_async(located_charger)("CP-FAR-5KM", FIVE_KM_NORTH)
    driver = await sync_to_async(User.objects.create_user)("near@example.com", "pw", language="en")
    browser = Browser()
    endpoint = push_service.endpoint("near-driver")
    await sync_to_async(PushSubscription.objects.create)(
        user=driver, endpoint=endpoint, **browser.keys()
    )
    await sync_to_async(watch)(driver, "2")

    async with charger("CP-FAR-5KM", server=push_server) as far:
        # Answered: a push, were there one, is posted (the receivers run before the answer).
        await send(far, "StatusNotification", available())
    assert [m for m in push_service.received if m.path == "/push/near-driver"] == []

    async with charger("CP-NEAR-1KM", server=push_server) as cp:
        await send(cp, "StatusNotification", available())
        pushes = await eventually(
            lambda: [m for m in push_service.received if m.path == "/push/near-driver"]
        )
        # Taken and freed again: the watch has ended, nobody is told twice.
        await send(cp, "StatusNotification", {**available(), "status": "Charging"})
        await send(cp, "StatusNotification", available())

    [push] = [m for m in push_service.received if m.path == "/push/near-driver"]
    assert push is pushes[0]
    vapid_claims(push, PUBLIC_KEY)
    content = browser.decrypt(push)
    assert content["title"] == "A charger is free near you"
    assert content["body"] == f"{near.name}, 1.0 km away: CCS 2 50 kW"
    assert content["url"] == reverse("portal:station", args=[near.pk])
    assert not await sync_to_async(NearbyWatch.objects.filter(user=driver).exists)()


# --- The rule ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_type_power_radius_and_time_of_a_watch_decide_a_match(make_user):
    site = located_charger("CP-RULE", ONE_KM_NORTH)
    connector = Connector.objects.get(charge_point__site=site)
    wants_ccs = watch(make_user(), "2", connector_type=Connector.Type.CCS2)
    watch(make_user(), "2", connector_type=Connector.Type.TYPE2)
    watch(make_user(), "2", min_power_kw=Decimal(150))
    watch(make_user(), "0.5")
    wants_50 = watch(make_user(), "1.5", min_power_kw=Decimal(50))
    expired = make_user()
    nearby.start(expired, *HERE, Decimal(5), now=timezone.now() - timedelta(hours=1))

    found = {match.watch.pk: match.distance_km for match in nearby.matches(connector)}

    assert set(found) == {wants_ccs.pk, wants_50.pk}
    assert found[wants_ccs.pk] == pytest.approx(1.0, abs=0.01)


@pytest.mark.django_db
def test_without_push_the_driver_is_told_in_the_portal_once_and_the_watch_ends(make_user):
    site = located_charger("CP-PORTAL", ONE_KM_NORTH, status="Available")
    driver = make_user(language="en")
    watch(driver)
    connector = Connector.objects.get(charge_point__site=site)

    assert nearby.tell_watchers(connector.pk) == 1
    assert nearby.tell_watchers(connector.pk) == 0

    [told] = Notification.objects.filter(user=driver)
    assert told.title == "A charger is free near you"
    assert told.body == f"{site.name}, 1.0 km away: CCS 2 50 kW"
    assert told.url == reverse("portal:station", args=[site.pk])
    assert not mail.outbox
    assert not NearbyWatch.objects.exists()


@pytest.mark.django_db
def test_a_connector_taken_again_before_the_task_tells_nobody(make_user):
    site = located_charger("CP-TAKEN", ONE_KM_NORTH, status="Charging")
    watch(make_user())
    assert nearby.tell_watchers(Connector.objects.get(charge_point__site=site).pk) == 0
    assert NearbyWatch.objects.count() == 1


@pytest.mark.django_db
def test_a_connector_of_a_charger_without_a_site_or_not_accepted_matches_nobody(make_user):
    site = located_charger("CP-PENDING", ONE_KM_NORTH, status="Available")
    ChargePoint.objects.filter(site=site).update(registration_status="Pending")
    watch(make_user())
    assert nearby.matches(Connector.objects.get(charge_point__site=site)) == []


@pytest.mark.django_db
def test_watches_past_their_time_are_deleted_with_their_positions(make_user):
    old, fresh = make_user(), make_user()
    nearby.start(old, *HERE, Decimal(2), now=timezone.now() - timedelta(minutes=31))
    watch(fresh)
    assert nearby.expire() == 1
    assert list(NearbyWatch.objects.values_list("user", flat=True)) == [fresh.pk]


# --- The portal -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_find_me_a_charger_starts_a_watch_for_30_minutes_and_says_positions_are_deleted(
    driver, driver_client
):
    page = driver_client.get(reverse("portal:stations")).content.decode()
    assert "Find me a charger" in page
    assert "deleted when we stop" in page

    response = driver_client.post(
        reverse("portal:nearby-start"),
        {"latitude": "57.7", "longitude": "11.97", "radius_km": "3", "connector_type": "CCS2"},
    )

    assert response.status_code == 302
    saved = NearbyWatch.objects.get(user=driver)
    assert (saved.latitude, saved.longitude, saved.radius_km) == (57.7, 11.97, Decimal(3))
    assert saved.expires_at - saved.started_at == timedelta(minutes=30)
    page = driver_client.get(reverse("portal:stations")).content.decode()
    assert "We are looking for a free charger within 3 km" in page
    assert reverse("portal:nearby-position") in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "position",
    [
        {"latitude": "nan", "longitude": "11.97"},
        {"latitude": "57.7", "longitude": "NaN"},
        {"latitude": "inf", "longitude": "11.97"},
        {"latitude": "91", "longitude": "11.97"},
        {"latitude": "57.7", "longitude": "-180.5"},
        {"latitude": "", "longitude": "11.97"},
        {"latitude": "57,7", "longitude": "11.97"},
    ],
)
def test_a_malformed_position_is_a_400(driver, driver_client, position):
    start = driver_client.post(reverse("portal:nearby-start"), {**position, "radius_km": "2"})
    assert start.status_code == 400
    assert not NearbyWatch.objects.exists()
    watch(driver)
    moved = driver_client.post(reverse("portal:nearby-position"), position)
    assert moved.status_code == 400
    assert NearbyWatch.objects.get(user=driver).latitude == HERE[0]


@pytest.mark.django_db
@pytest.mark.parametrize("radius", ["0", "-1", "51", "nan", "x"])
def test_a_radius_out_of_bounds_is_a_400(driver_client, radius):
    response = driver_client.post(
        reverse("portal:nearby-start"),
        {"latitude": "57.7", "longitude": "11.97", "radius_km": radius},
    )
    assert response.status_code == 400
    assert not NearbyWatch.objects.exists()


@pytest.mark.django_db
def test_the_position_is_written_at_most_every_30_seconds_and_404_when_no_watch_runs(
    driver, driver_client
):
    url = reverse("portal:nearby-position")
    assert driver_client.post(url, {"latitude": "57.8", "longitude": "12"}).status_code == 404
    nearby.start(driver, *HERE, Decimal(2), now=timezone.now() - timedelta(seconds=31))

    assert driver_client.post(url, {"latitude": "57.8", "longitude": "12"}).status_code == 204
    assert driver_client.post(url, {"latitude": "57.9", "longitude": "12"}).status_code == 204

    saved = NearbyWatch.objects.get(user=driver)
    assert (saved.latitude, saved.longitude) == (57.8, 12.0)


@pytest.mark.django_db
def test_stop_deletes_the_watch_and_its_position(driver, driver_client):
    watch(driver)
    response = driver_client.post(reverse("portal:nearby-stop"))
    assert response.status_code == 302
    assert not NearbyWatch.objects.exists()


@pytest.mark.django_db
def test_anonymous_cannot_start_a_watch_and_sees_no_card(client):
    response = client.post(
        reverse("portal:nearby-start"), {"latitude": "57.7", "longitude": "11.97", "radius_km": "2"}
    )
    assert response.status_code == 302
    assert "Find me a charger" not in client.get(reverse("portal:stations")).content.decode()
    assert not NearbyWatch.objects.exists()


@pytest.mark.django_db
def test_with_push_on_the_card_offers_this_device(driver_client):
    with override_settings(**VAPID):
        page = driver_client.get(reverse("portal:stations")).content.decode()
    assert f'data-key="{PUBLIC_KEY}"' in page
    assert reverse("portal:push-subscribe") in page


@pytest.mark.django_db
def test_a_watch_across_the_antimeridian_matches_a_site_on_the_other_side(make_user):
    site = Site.objects.create(
        name="Taveuni", latitude=Decimal("-16.8"), longitude=Decimal("-179.99")
    )
    charge_point = register("CP-DATELINE", site=site)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    across = nearby.start(make_user(), -16.8, 179.99, Decimal(5))
    nearby.start(make_user(), -16.8, 179.8, Decimal(5))  # 20 km away
    assert [match.watch.pk for match in nearby.matches(connector)] == [across.pk]
