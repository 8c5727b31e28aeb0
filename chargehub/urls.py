from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from billing.webhooks import stripe_webhook
from notifications import push_views
from users import language


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    # Operations' own admin pages (the network dashboard), before the admin's catch-all.
    path("admin/operations/", include("operations.urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    # The installable portal: at the root, so that the service worker's scope is the site.
    path("manifest.webmanifest", push_views.manifest, name="manifest"),
    path("sw.js", push_views.service_worker, name="service-worker"),
    # Firmware downloads and diagnostics uploads for chargers, by token (fleet/views.py).
    path("fleet/", include("fleet.urls")),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    # Guest payment at the charger: the pages behind the QR codes (billing/guest.py).
    path("charge/", include("billing.guest_urls")),
    # Invoices, receipts and credit notes: the PDF for its owner (billing/invoicing.py).
    path("billing/", include("billing.urls")),
    # Sign-up, login, email verification, password reset, second factors (django-allauth);
    # the admin's login goes through it too when ADMIN_REQUIRE_MFA is on (users/admin_mfa.py).
    # A member of staff's first second factor waits for an emailed link (users/first_factor.py).
    path("accounts/2fa/", include("users.urls")),
    path("accounts/", include("allauth.urls")),
    # The language switch of the portal: Django's set_language view, which also saves a
    # logged-in driver's choice (users/language.py); before the include, so it wins.
    path("i18n/setlang/", language.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The driver portal: /, /stations/, /charging/, /account/ (portal/urls.py).
    path("", include("portal.urls")),
    # The REST API (/api/v1/…), its OpenAPI schema and docs (api/urls.py).
    path("api/", include("api.urls")),
]

# An address no route matches: a page, or JSON under /api/ as the API's other errors.
handler404 = "api.views.errors.not_found"
