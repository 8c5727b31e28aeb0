"""The station map's settings for its script: which tile server, and whose credit to show."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def map_tiles() -> dict[str, str]:
    """For json_script: the page's script hands these to Leaflet's tileLayer()."""
    # The attribution is HTML (Leaflet shows it as such): it comes from the operator's
    # settings, never from a user.
    return {"url": settings.PORTAL_MAP_TILE_URL, "attribution": settings.PORTAL_MAP_ATTRIBUTION}
