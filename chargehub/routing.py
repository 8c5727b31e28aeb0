from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from stations.live import LiveConsumer
from stations.ocpp.consumer import OcppConsumer

# The id is checked again in the consumer; the pattern only keeps the URL sane.
websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),
    # Live updates for the portal's pages. Only this route reads the session cookie:
    # chargers authenticate with Basic auth and must not get a Django user. The origin
    # check keeps another site's page from reading a driver's sessions with their cookie.
    re_path(
        r"^ws/live/$", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveConsumer.as_asgi()))
    ),
]
