"""Insights listens to stations' domain events; nothing imports insights."""

from typing import Any

from django.dispatch import receiver

from insights import refusals, searches
from stations import signals


@receiver(signals.station_searched)
def record_search(sender: type, **kwargs: Any) -> None:
    """A driver searched for a charger: keep where (coarsely), when and what was free."""
    searches.record(kwargs["at"], kwargs["near"], kwargs["connector_type"], kwargs["found_free"])


@receiver(signals.authorization_refused)
def record_refusal(sender: type, **kwargs: Any) -> None:
    """A driver's start was refused at a charger: one more turned away at its site."""
    refusals.record(
        kwargs["charge_point"],
        kwargs["connector_id"],
        kwargs["action"],
        kwargs["status"],
        kwargs["at"],
    )
