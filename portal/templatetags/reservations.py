"""The station page's "Reserve" part of a connector: held for the driver, or a form.

A tag rather than view context: the station page's view (portal/views.py) stays as it is,
and the page asks once per connector, a handful of small queries.
"""

from typing import Any

from django import template

from portal import reservations
from portal.forms import ReserveForm
from stations.finder import ConnectorState

register = template.Library()


@register.inclusion_tag("portal/_reserve.html", takes_context=True)
def reserve_connector(context: template.Context, state: ConnectorState) -> dict[str, Any]:
    user = context["user"]
    connector = state.connector
    held = reservations.held_at(user, connector) if user.is_authenticated else None
    # Only a free connector can be held, and only by a driver who may charge.
    offered = user.is_authenticated and held is None and state.available
    error = None
    if context.get("reserve_connector_id") == connector.pk:
        error = context.get("reserve_error")
    return {
        "connector": connector,
        "held": held,
        "form": ReserveForm(
            user, initial={"connector": connector.pk}, auto_id=f"reserve-{connector.pk}-%s"
        )
        if offered and not context.get("refusal")
        else None,
        "tokens": context.get("tokens"),
        "error": error,
        "csrf_token": context.get("csrf_token"),
    }
