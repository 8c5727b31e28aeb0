"""The *Find me a charger* card of the station list: the form, or the watch that runs
(notifications/nearby.py), and push notifications on this device. A tag of its own, so
the portal's station list view needs no part of it."""

from typing import Any

from django import template
from django.conf import settings

from notifications import nearby
from notifications.forms import NearbyWatchForm
from notifications.push_views import vapid_public_key

register = template.Library()


@register.inclusion_tag("notifications/_nearby.html", takes_context=True)
def nearby_card(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    user = request.user
    if not user.is_authenticated:
        return {"user": user}
    return {
        "user": user,
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "watch": nearby.running(user),
        # Ids of their own: the filter form on the same page has a connector_type too.
        "form": NearbyWatchForm(initial={"radius_km": 5}, auto_id="nearby_%s"),
        "vapid_key": vapid_public_key(),
        "has_push": user.push_subscriptions.exists(),
        "minutes": settings.NEARBY_WATCH_SECONDS // 60,
    }
