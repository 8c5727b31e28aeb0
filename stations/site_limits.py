"""A site's grid limit now: the static limit, time-of-day limits, a dynamic limit.

The static limit (`Site.grid_limit_amps`) is the main fuse. A time-of-day limit
(`SiteLimitPeriod`, the site's local time) and a dynamic limit set from outside (an
energy management system, the grid operator: `set_dynamic_limit`, until its expiry) can
only lower it: the lowest limit in force applies. All in amps per phase.
"""

from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from stations.models import MIDNIGHT, SITE_AMPS_MAX, Site, SiteLimitPeriod


def min_amps(site: Site) -> Decimal:
    """Below this a car stops charging: the site's own, else SMART_CHARGING_MIN_AMPS."""
    if site.min_amps is not None:
        return site.min_amps
    return Decimal(str(settings.SMART_CHARGING_MIN_AMPS))


def limit_now(
    site: Site, now: datetime | None = None, periods: list[SiteLimitPeriod] | None = None
) -> Decimal | None:
    """The limit per phase in force, or None for a site that is not managed."""
    if site.grid_limit_amps is None:
        return None
    now = now or timezone.now()
    limits = [site.grid_limit_amps]
    if site.dynamic_limit_amps is not None and (
        site.dynamic_limit_until is None or site.dynamic_limit_until > now
    ):
        limits.append(site.dynamic_limit_amps)
    local = now.astimezone(ZoneInfo(site.time_zone)).time()
    if periods is None:
        periods = list(site.limit_periods.all())
    limits += [
        period.amps
        for period in periods
        if period.starts <= local and (local < period.ends or period.ends == MIDNIGHT)
    ]
    return min(limits)


def parse_amps(value: object) -> Decimal:
    """Amps from outside (the API): a number from 0 to SITE_AMPS_MAX, to 0.1 A."""
    try:
        amps = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("A limit is a number of amps."), code="not_a_number") from None
    if not amps.is_finite() or amps < 0 or amps > SITE_AMPS_MAX:
        raise ValidationError(
            _("A limit is from 0 to %(max)s A.") % {"max": SITE_AMPS_MAX}, code="out_of_range"
        )
    return amps.quantize(Decimal("0.1"))


def set_dynamic_limit(
    site: Site, amps: Decimal | None, until: datetime | None, now: datetime | None = None
) -> Site:
    """Set (or with None clear) the site's dynamic limit; it lapses at `until`.

    Raises ValidationError for a limit out of range or an expiry in the past, and for a
    site without a static limit (there is nothing to manage).
    """
    now = now or timezone.now()
    if site.grid_limit_amps is None:
        raise ValidationError(
            _("Set the site's grid limit first: a dynamic limit only lowers it."),
            code="not_managed",
        )
    if amps is not None:
        amps = parse_amps(amps)
        if until is not None and until <= now:
            raise ValidationError(_("The dynamic limit must end in the future."), code="past")
    else:
        until = None
    Site.objects.filter(pk=site.pk).update(dynamic_limit_amps=amps, dynamic_limit_until=until)
    site.dynamic_limit_amps, site.dynamic_limit_until = amps, until
    return site
