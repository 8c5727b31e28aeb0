"""Web Push and the installable portal: the browser's subscription (subscribe and
unsubscribe, JSON, CSRF-protected like every POST), the web app manifest and the service
worker, both served from the root so that the worker's scope is the whole portal."""

import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from notifications import webpush

SERVICE_WORKER = Path(__file__).resolve().parent / "static" / "notifications" / "sw.js"


def _body(request: HttpRequest) -> object:
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None


def _login_needed() -> JsonResponse:
    # JSON, not a redirect to the login page: the caller is the page's script.
    return JsonResponse({"detail": _("Log in first.")}, status=403)


@require_POST
def subscribe(request: HttpRequest) -> JsonResponse:
    """Store the browser's PushSubscription (its toJSON()) for the driver: 201, or 400."""
    if not request.user.is_authenticated:
        return _login_needed()
    try:
        webpush.subscribe(request.user, _body(request))
    except ValidationError as error:
        return JsonResponse({"detail": " ".join(error.messages)}, status=400)
    return JsonResponse({"subscribed": True}, status=201)


@require_POST
def unsubscribe(request: HttpRequest) -> HttpResponse:
    """Forget one of the driver's subscriptions ({"endpoint": ...}): 204, or 400."""
    if not request.user.is_authenticated:
        return _login_needed()
    body = _body(request)
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str):
        return JsonResponse({"detail": _("This is not a push subscription.")}, status=400)
    webpush.unsubscribe(request.user, endpoint)
    return HttpResponse(status=204)


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: the portal installs as an app on a phone."""
    icons = [
        {
            "src": static(f"notifications/icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
        }
        for size in (192, 512)
    ]
    data = {
        "name": "ChargeHub",
        "short_name": "ChargeHub",
        "description": _("Find a charger, charge your car, pay."),
        "start_url": reverse("portal:home"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b6e4f",
        "icons": icons,
    }
    return JsonResponse(data, content_type="application/manifest+json")


@cache
def _service_worker() -> bytes:
    return SERVICE_WORKER.read_bytes()


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker at /sw.js: its scope may be the whole site without a
    Service-Worker-Allowed header. Not cached long: a new version must reach browsers."""
    response = HttpResponse(_service_worker(), content_type="text/javascript")
    response["Cache-Control"] = "no-cache"
    return response


def vapid_public_key() -> str:
    """The key the page's script subscribes with; blank when Web Push is off."""
    return settings.WEBPUSH_VAPID_PUBLIC_KEY if webpush.enabled() else ""
