"""Smart charging priorities by customer group (SMART_CHARGING_PRIORITIES).

Stations shares a site's limit (stations/load_balancing.py) and asks here who comes
first: the driver's highest `CustomerGroup.charging_priority`, 0 outside any group.
"""

from django.db.models import Max

from billing.models import CustomerGroup
from stations.models import ChargingSession


def priorities(sessions: list[ChargingSession]) -> dict[int, int]:
    """{session pk: priority} for running sessions, in one query."""
    owners = {s.pk: s.id_token.owner_id for s in sessions if s.id_token and s.id_token.owner_id}
    if not owners:
        return {}
    by_member = dict(
        CustomerGroup.objects.filter(members__in=set(owners.values()))
        .values_list("members")
        .annotate(top=Max("charging_priority"))
        .values_list("members", "top")
    )
    return {pk: by_member.get(owner, 0) for pk, owner in owners.items()}
