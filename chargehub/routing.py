from django.urls import re_path

from stations.ocpp.consumer import OcppConsumer

# The id is checked again in the consumer; the pattern only keeps the URL sane.
websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),
]
