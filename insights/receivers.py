"""Insights listens to stations' domain events; nothing imports insights."""

from typing import Any

from django.dispatch import receiver

from insights import searches
from stations import signals


@receiver(signals.station_searched)
def record_search(sender: type, **kwargs: Any) -> None:
    """A driver searched for a charger: keep where (coarsely), when and what was free."""
    searches.record(kwargs["at"], kwargs["near"], kwargs["connector_type"], kwargs["found_free"])
