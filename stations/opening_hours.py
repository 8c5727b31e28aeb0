"""When a site is open: OCPI 2.2.1's opening_times (twentyfourseven, regular_hours), read
in the site's local time.

Shown to drivers, never enforced here: starting outside the hours is not refused, the
charger decides (a site may well let a charger run at night behind a closed gate).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.utils.dates import WEEKDAYS

from stations.models import MIDNIGHT, OpeningHours, Site


@dataclass(frozen=True)
class TimeRange:
    """Open from `opens` until `closes` on one day, local time; 00:00 closes at midnight."""

    opens: time
    closes: time

    @property
    def until_midnight(self) -> bool:
        return self.closes == MIDNIGHT

    def __contains__(self, moment: time) -> bool:
        return self.opens <= moment and (self.until_midnight or moment < self.closes)


class DayHours(NamedTuple):
    label: str  # the weekday's name in the active language
    ranges: list[TimeRange]  # empty: closed all day


WHOLE_DAY = TimeRange(MIDNIGHT, MIDNIGHT)


def site_zone(site: Site) -> ZoneInfo:
    """The site's time zone; the default one when the field holds no known zone (it is
    free text), so that a typo shows hours an hour off rather than a broken page."""
    try:
        return ZoneInfo(site.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def _hours(site: Site) -> list[OpeningHours]:
    # .all(): the prefetched rows when prefetch() ran, else one query.
    return list(site.opening_hours.all())


def is_open(site: Site, at: datetime) -> bool:
    """Whether the site is open at the instant `at` (timezone-aware), by its local clock.

    Local time is what the clock on the wall shows, so on the days the clocks change a
    range keeps its wall-clock times (open 07:00-19:00 is 11 or 13 hours in UTC).
    """
    if site.open_24_7:
        return True
    local = at.astimezone(site_zone(site))
    weekday, moment = local.isoweekday(), local.time()
    return any(
        moment in TimeRange(hours.opens, hours.closes)
        for hours in _hours(site)
        if hours.weekday == weekday
    )


def weekly_hours(site: Site) -> list[DayHours]:
    """Monday to Sunday with their opening ranges, for display (every day whole when the
    site is open around the clock)."""
    by_day: dict[int, list[TimeRange]] = {day: [] for day in range(1, 8)}
    if site.open_24_7:
        by_day = {day: [WHOLE_DAY] for day in by_day}
    else:
        for hours in sorted(_hours(site), key=lambda hours: (hours.weekday, hours.opens)):
            by_day[hours.weekday].append(TimeRange(hours.opens, hours.closes))
    # django.utils.dates.WEEKDAYS counts from 0 = Monday.
    return [DayHours(str(WEEKDAYS[day - 1]), ranges) for day, ranges in by_day.items()]


def prefetch(sites: Iterable[Site]) -> None:
    """Read the opening hours of the sites that have some, in one query (none when every
    site is open around the clock): a page of 50 sites then costs one query, not 50."""
    limited = [site for site in sites if not site.open_24_7]
    if limited:
        prefetch_related_objects(limited, "opening_hours")
