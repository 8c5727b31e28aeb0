"""When a site is open (stations/opening_hours.py), and how staff give its hours in admin."""

from datetime import datetime, time
from itertools import count
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from stations.models import OpeningHours, Site
from stations.opening_hours import TimeRange, is_open, weekly_hours
from users.models import User

pytestmark = pytest.mark.django_db

_numbers = count(1)
MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)


def site_with(
    *hours: tuple[int, str, str], time_zone: str = "Europe/Stockholm", open_24_7: bool = False
) -> Site:
    """A site open during `hours`, each (ISO weekday, "HH:MM" opens, "HH:MM" closes)."""
    site = Site.objects.create(
        name=f"Hours {next(_numbers)}", time_zone=time_zone, open_24_7=open_24_7
    )
    for weekday, opens, closes in hours:
        OpeningHours.objects.create(
            site=site, weekday=weekday, opens=time.fromisoformat(opens), closes=closes
        )
    return site


def utc(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+00:00")


def test_a_site_open_around_the_clock_is_open_at_any_time_whatever_rows_it_kept():
    site = site_with((MON, "07:00", "08:00"), open_24_7=True)
    assert is_open(site, utc("2026-11-24 03:00"))  # a Tuesday night
    assert [day.ranges for day in weekly_hours(site)] == [[TimeRange(time(0), time(0))]] * 7


def test_open_from_opening_until_closing_on_its_weekday_only():
    # Stockholm is UTC+1 in November; 2026-11-23 is a Monday.
    site = site_with((MON, "07:00", "19:00"), (WED, "07:00", "19:00"))
    assert not is_open(site, utc("2026-11-23 05:59"))  # 06:59 local
    assert is_open(site, utc("2026-11-23 06:00"))  # 07:00: opens
    assert is_open(site, utc("2026-11-23 17:59"))
    assert not is_open(site, utc("2026-11-23 18:00"))  # 19:00: closed
    assert not is_open(site, utc("2026-11-24 08:00"))  # Tuesday: no hours
    assert is_open(site, utc("2026-11-25 08:00"))  # Wednesday


def test_a_range_closing_at_midnight_runs_to_the_end_of_the_day():
    site = site_with((FRI, "22:00", "00:00"), (SAT, "00:00", "02:00"))
    assert not is_open(site, utc("2026-11-27 20:59"))  # Friday 21:59 local
    assert is_open(site, utc("2026-11-27 22:59"))  # Friday 23:59
    assert is_open(site, utc("2026-11-28 00:30"))  # Saturday 01:30
    assert not is_open(site, utc("2026-11-28 01:00"))  # Saturday 02:00
    assert not is_open(site, utc("2026-11-28 21:30"))  # Saturday 22:30: only Friday's


def test_a_day_open_from_midnight_to_midnight_is_open_all_day():
    site = site_with((SUN, "00:00", "00:00"))
    assert is_open(site, utc("2026-11-28 23:00"))  # Sunday 00:00 local
    assert is_open(site, utc("2026-11-29 22:59"))  # Sunday 23:59
    assert not is_open(site, utc("2026-11-29 23:00"))  # Monday


def test_hours_are_read_on_the_sites_own_clock():
    stockholm = site_with((MON, "09:00", "17:00"))
    new_york = site_with((MON, "09:00", "17:00"), time_zone="America/New_York")
    # Monday 14:30 UTC: 15:30 in Stockholm, 09:30 in New York.
    assert is_open(stockholm, utc("2026-11-23 14:30"))
    assert is_open(new_york, utc("2026-11-23 14:30"))
    # Monday 17:30 UTC: 18:30 in Stockholm (closed), 12:30 in New York.
    assert not is_open(stockholm, utc("2026-11-23 17:30"))
    assert is_open(new_york, utc("2026-11-23 17:30"))
    # Tuesday 03:00 UTC is still Monday 22:00 in New York: closed, but Monday's.
    assert not is_open(new_york, utc("2026-11-24 03:00"))


def test_on_the_day_the_clocks_go_forward_the_hours_keep_their_wall_clock_times():
    # 2026-03-29, a Sunday: Stockholm jumps from 02:00 CET to 03:00 CEST at 01:00 UTC.
    site = site_with((SUN, "01:00", "04:00"))
    assert not is_open(site, utc("2026-03-28 23:59"))  # 00:59 CET
    assert is_open(site, utc("2026-03-29 00:30"))  # 01:30 CET
    assert is_open(site, utc("2026-03-29 01:30"))  # 03:30 CEST
    assert not is_open(site, utc("2026-03-29 02:00"))  # 04:00 CEST: two hours after opening


def test_on_the_day_the_clocks_go_back_the_repeated_hour_is_read_twice():
    # 2026-10-25, a Sunday: Stockholm goes from 03:00 CEST back to 02:00 CET at 01:00 UTC.
    site = site_with((SUN, "00:00", "02:30"))
    assert is_open(site, utc("2026-10-25 00:15"))  # 02:15 CEST
    assert not is_open(site, utc("2026-10-25 00:45"))  # 02:45 CEST
    assert is_open(site, utc("2026-10-25 01:15"))  # 02:15 CET, the second time
    assert not is_open(site, utc("2026-10-25 01:45"))  # 02:45 CET


def test_weekly_hours_list_every_day_with_its_ranges_in_order():
    site = site_with((TUE, "13:00", "18:00"), (TUE, "07:00", "12:00"), (SAT, "10:00", "00:00"))
    week = weekly_hours(site)
    assert [day.label for day in week] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert week[0].ranges == []
    assert week[1].ranges == [
        TimeRange(time(7), time(12)),
        TimeRange(time(13), time(18)),
    ]
    assert week[5].ranges[0].until_midnight


def test_the_database_refuses_a_range_that_closes_before_it_opens():
    site = site_with((MON, "08:00", "09:00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        OpeningHours.objects.create(site=site, weekday=MON, opens=time(18), closes=time(9))
    with pytest.raises(IntegrityError), transaction.atomic():
        OpeningHours.objects.create(site=site, weekday=8, opens=time(8), closes=time(9))


# --- Admin ----------------------------------------------------------------------------------


@pytest.fixture
def staff_client() -> Client:
    user = User.objects.create_superuser(email="hours-staff@example.com", password="x" * 20)
    client = Client()
    client.force_login(user)
    return client


def site_form(*rows: tuple[Any, str, str], open_24_7: bool = False) -> dict[str, Any]:
    """The admin's add-site form with opening hours `rows`."""
    data: dict[str, Any] = {
        "name": f"Admin hours {next(_numbers)}",
        "country": "SE",
        "time_zone": "Europe/Stockholm",
        "opening_hours-TOTAL_FORMS": str(len(rows)),
        "opening_hours-INITIAL_FORMS": "0",
        "opening_hours-MIN_NUM_FORMS": "0",
        "opening_hours-MAX_NUM_FORMS": "1000",
        # The rest of the page's form as the browser sends it: smart charging's wiring
        # and its (empty) time-of-day limits.
        "phases": "3",
        "limit_periods-TOTAL_FORMS": "0",
        "limit_periods-INITIAL_FORMS": "0",
    }
    if open_24_7:
        data["open_24_7"] = "on"
    for n, (weekday, opens, closes) in enumerate(rows):
        data |= {
            f"opening_hours-{n}-weekday": str(weekday),
            f"opening_hours-{n}-opens": opens,
            f"opening_hours-{n}-closes": closes,
        }
    return data


def add_site(client: Client, data: dict[str, Any]) -> Any:
    return client.post(reverse("admin:stations_site_add"), data)


def test_staff_give_a_site_its_opening_hours_in_admin(staff_client):
    data = site_form((MON, "07:00", "19:00"), (SAT, "22:00", "00:00"))
    response = add_site(staff_client, data)
    assert response.status_code == 302, response.context["inline_admin_formsets"]
    site = Site.objects.get(name=data["name"])
    assert not site.open_24_7
    assert [str(hours) for hours in site.opening_hours.all()] == [
        "Monday 07:00-19:00",
        "Saturday 22:00-24:00",
    ]


def test_admin_refuses_a_range_that_closes_before_it_opens(staff_client):
    response = add_site(staff_client, site_form((MON, "19:00", "07:00")))
    assert response.status_code == 200
    assert "Closing must be after opening on the same day" in response.content.decode()
    assert not Site.objects.filter(name__startswith="Admin hours").exists()


def test_admin_refuses_overlapping_ranges_on_one_day(staff_client):
    response = add_site(staff_client, site_form((TUE, "07:00", "12:00"), (TUE, "11:00", "15:00")))
    assert response.status_code == 200
    assert "The opening hours on Tuesday overlap." in response.content.decode()
    response = add_site(staff_client, site_form((TUE, "20:00", "00:00"), (TUE, "21:00", "22:00")))
    assert "The opening hours on Tuesday overlap." in response.content.decode()
    assert not Site.objects.filter(name__startswith="Admin hours").exists()


def test_admin_lets_ranges_touch_and_the_same_hours_on_other_days(staff_client):
    data = site_form((TUE, "07:00", "12:00"), (TUE, "12:00", "15:00"), (WED, "07:00", "12:00"))
    assert add_site(staff_client, data).status_code == 302
    assert Site.objects.get(name=data["name"]).opening_hours.count() == 3


def test_admin_refuses_a_site_neither_open_around_the_clock_nor_with_hours(staff_client):
    response = add_site(staff_client, site_form())
    assert response.status_code == 200
    assert "Add the opening hours, or tick" in response.content.decode()
    assert add_site(staff_client, site_form(open_24_7=True)).status_code == 302
