from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path

from billing.webhooks import stripe_webhook


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
]
