from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from billing.webhooks import stripe_webhook


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    # Guest payment at the charger: the pages behind the QR codes (billing/guest.py).
    path("charge/", include("billing.guest_urls")),
    # Invoices, receipts and credit notes: the PDF for its owner (billing/invoicing.py).
    path("billing/", include("billing.urls")),
]
