"""'Notify me when free': watches, the email when a watched connector becomes Available."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications import events, nearby, receivers
from notifications.models import NearbyWatch, Watch
from stations.models import Connector
from stations.signals import connector_status_changed
from tests.portal.places import first_connector, place
from users.models import User

pytestmark = pytest.mark.django_db


def becomes(connector: Connector, status: str) -> None:
    """What stations/ocpp/v16.py does on a StatusNotification."""
    previous = connector.status
    connector.status = status
    connector.save(update_fields=["status"])
    connector_status_changed.send(sender=Connector, connector=connector, previous_status=previous)


def test_a_driver_watches_a_connector_and_a_second_click_changes_nothing(driver, driver_client):
    site = place("Busy", connectors=(("CCS2", "150", "Charging"),))
    connector = first_connector(site)
    url = reverse("portal:watch", args=[site.pk])

    first = driver_client.post(url, {"connector": connector.pk})
    second = driver_client.post(url, {"connector": connector.pk})

    assert first.status_code == second.status_code == 302
    assert first["Location"] == reverse("portal:station", args=[site.pk])
    assert Watch.objects.filter(user=driver, connector=connector, notified_at=None).count() == 1
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert "We will email you when this connector becomes available." in page


def test_watching_a_station_watches_its_connectors_that_are_not_free(driver, driver_client):
    site = place("Two", connectors=(("Type2", "22", "Available"), ("CCS2", "50", "Faulted")))
    driver_client.post(reverse("portal:watch", args=[site.pk]))
    watched = Watch.objects.filter(user=driver).values_list("connector__status", flat=True)
    assert list(watched) == ["Faulted"]


def test_a_connector_of_another_station_is_not_watched(driver, driver_client):
    here = place("Here", connectors=(("CCS2", "50", "Charging"),))
    there = place("There", connectors=(("CCS2", "50", "Charging"),))
    driver_client.post(
        reverse("portal:watch", args=[here.pk]), {"connector": first_connector(there).pk}
    )
    assert not Watch.objects.exists()


def test_anonymous_is_sent_to_log_in_and_nothing_is_watched(client):
    site = place("Anon", connectors=(("CCS2", "50", "Charging"),))
    response = client.post(reverse("portal:watch", args=[site.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not Watch.objects.exists()


def test_the_button_is_only_for_logged_in_drivers_and_a_watch_is_a_post(client, driver_client):
    site = place("Page", connectors=(("CCS2", "50", "Charging"),))
    assert (
        "Notify me when free"
        not in client.get(reverse("portal:station", args=[site.pk])).content.decode()
    )
    assert (
        "Notify me when free"
        in driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    )
    assert driver_client.get(reverse("portal:watch", args=[site.pk])).status_code == 405


def test_becoming_available_emails_each_watcher_once_in_their_language_and_closes_the_watch(
    driver: User, make_swedish: Callable[[], User]
):
    site = place("Kungsportsplatsen", connectors=(("CCS2", "150", "Charging"),))
    connector = first_connector(site)
    swede = make_swedish()
    events.watch(driver, [connector])
    events.watch(swede, [connector])

    becomes(connector, Connector.Status.AVAILABLE)

    assert sorted(message.to[0] for message in mail.outbox) == sorted([driver.email, swede.email])
    english = next(m for m in mail.outbox if m.to == [driver.email])
    assert site.name in english.subject
    assert (
        f"Charger {connector.charge_point.charge_point_id}, connector 1: Available" in english.body
    )
    assert f"/stations/{site.pk}/" in english.body
    assert not Watch.objects.filter(notified_at=None).exists()

    # Busy again, then free again: the watches were closed, nobody is told twice.
    becomes(connector, Connector.Status.CHARGING)
    becomes(connector, Connector.Status.AVAILABLE)
    assert len(mail.outbox) == 2


@pytest.mark.parametrize("status", ["Charging", "Faulted", "Preparing", "Unavailable"])
def test_other_statuses_tell_nobody(driver, status):
    site = place("Still busy", connectors=(("CCS2", "50", "Finishing"),))
    connector = first_connector(site)
    events.watch(driver, [connector])
    becomes(connector, status)
    assert mail.outbox == []
    assert Watch.objects.get().notified_at is None


def test_one_email_per_station_when_watching_all_of_it(driver):
    site = place("Pair", connectors=(("CCS2", "50", "Charging"), ("CCS2", "50", "Charging")))
    one, two = Connector.objects.filter(charge_point__site=site).order_by("connector_id")
    events.watch(driver, [one, two])
    becomes(one, Connector.Status.AVAILABLE)
    becomes(two, Connector.Status.AVAILABLE)
    assert len(mail.outbox) == 1
    assert not Watch.objects.filter(notified_at=None).exists()


def test_a_driver_may_watch_again_after_being_told(driver):
    site = place("Again", connectors=(("CCS2", "50", "Charging"),))
    connector = first_connector(site)
    events.watch(driver, [connector])
    becomes(connector, Connector.Status.AVAILABLE)
    events.watch(driver, [connector])
    assert Watch.objects.filter(user=driver).count() == 2


def test_one_open_watch_per_driver_and_connector_is_a_database_rule(driver):
    from django.db import IntegrityError

    site = place("Rule", connectors=(("CCS2", "50", "Charging"),))
    connector = first_connector(site)
    Watch.objects.create(user=driver, connector=connector)
    with pytest.raises(IntegrityError), transaction.atomic():
        Watch.objects.create(user=driver, connector=connector)


def test_the_email_is_in_the_drivers_language(make_swedish):
    swede = make_swedish()
    site = place("Svenska", connectors=(("CCS2", "50", "Charging"),), charge_point_id="SV-1")
    connector = first_connector(site)
    events.watch(swede, [connector])
    becomes(connector, Connector.Status.AVAILABLE)
    assert "Laddare SV-1, uttag 1: Ledig" in mail.outbox[0].body


def test_a_connector_freed_that_nobody_waits_for_asks_the_watches_once():
    # Every change to Available, in the charger's call: whether anyone waits for this
    # connector and whether anyone waits near it is one question, not one each.
    connector = first_connector(place("Idle", connectors=(("CCS2", "150", "Charging"),)))
    becomes(connector, "Available")  # what a process reads once (webhooks) is read
    becomes(connector, "Charging")

    with CaptureQueriesContext(connection) as asked:
        becomes(connector, "Available")

    watches = [q["sql"] for q in asked if '"notifications_' in q["sql"]]
    assert len(watches) == 1
    assert "notifications_watch" in watches[0] and "notifications_nearbywatch" in watches[0]


def test_anyone_waiting_agrees_with_the_orm_in_every_state_of_the_watches(driver):
    """notifications.receivers.anyone_waiting, one statement built once per process,
    asked on every change to Available: the ORM's answer, always."""
    site = place("Oracle", connectors=(("CCS2", "50", "Charging"), ("CCS2", "50", "Charging")))
    one, two = Connector.objects.filter(charge_point__site=site).order_by("connector_id")

    def agree(connector: Connector) -> tuple[bool, bool]:
        orm = (
            Watch.objects.filter(connector=connector, notified_at=None).exists(),
            NearbyWatch.objects.exists(),
        )
        assert receivers.anyone_waiting(connector.pk) == orm
        return orm

    assert agree(one) == (False, False)
    events.watch(driver, [one])
    assert agree(one) == (True, False)
    assert agree(two) == (False, False)  # another connector's watch
    Watch.objects.update(notified_at=timezone.now())  # told: no longer waiting
    assert agree(one) == (False, False)
    nearby.start(driver, 59.33, 18.07, Decimal(5))
    assert agree(one) == (False, True)
    events.watch(driver, [one])
    assert agree(one) == (True, True)
