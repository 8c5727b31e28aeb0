import logging

from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from stations.live import LiveConsumer
from stations.ocpp.consumer import OcppConsumer

logger = logging.getLogger(__name__)


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path (`/ocpp/..%2F..%2Fadmin`, `/admin/`): refused at the
    handshake, HTTP 403. Without it channels' URLRouter raises, and daphne answers 500
    with a traceback in the log."""

    async def connect(self) -> None:
        logger.info("WebSocket refused: no route for %s", self.scope["path"])
        await self.close()


# The id is checked again in the consumer; the pattern only keeps the URL sane.
websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),
    # Live updates for the portal's pages. Only this route reads the session cookie:
    # chargers authenticate with Basic auth and must not get a Django user. The origin
    # check keeps another site's page from reading a driver's sessions with their cookie.
    re_path(
        r"^ws/live/$", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveConsumer.as_asgi()))
    ),
    re_path(r"", NoRouteConsumer.as_asgi()),  # last: whatever no route above took
]
