"""ASGI entry point: HTTP (Django, admin) and the OCPP WebSocket endpoint on one port."""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")
# Django must be set up before the routing (and the models it imports) is loaded.
django_asgi_app = get_asgi_application()
if settings.DEBUG:
    # `make run` has no proxy in front: the portal's CSS and JS come from the apps'
    # static/ folders, as `runserver` would serve them. In production the proxy serves
    # /static/ from STATIC_ROOT (README, Deployment).
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chargehub.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
