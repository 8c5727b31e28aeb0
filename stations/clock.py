"""Whether to believe a charger's clock.

Chargers queue messages while offline and send them later with their original
timestamps, which are the truth for a session's times. But a charger with a flat RTC
battery says 1970, and one with a wrong time zone lives hours in the future. A
timestamp in the future beyond a tolerance, or older than the longest plausible offline
queue, is replaced by the time the server received it, and flagged.
"""

from datetime import datetime, timedelta

from django.conf import settings


def trusted_time(charger_time: datetime, received_at: datetime) -> tuple[datetime, bool]:
    """Return (time to store, whether the charger's clock was overruled)."""
    too_new = received_at + timedelta(seconds=settings.OCPP_CLOCK_SKEW_TOLERANCE)
    too_old = received_at - timedelta(seconds=settings.OCPP_MAX_QUEUED_MESSAGE_AGE)
    if too_old <= charger_time <= too_new:
        return charger_time, False
    return received_at, True
