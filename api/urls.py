"""/api/v1/… (the API), /api/schema/ (OpenAPI 3) and /api/docs/ (browsable docs)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api.views import (
    audit,
    driver,
    nearby,
    public,
    sites,
    staff,
    support,
    tickets,
    uptime,
    webhooks,
)

router = DefaultRouter()
router.register("stations", public.StationViewSet, basename="station")
router.register("me/sessions", driver.MySessionViewSet, basename="my-session")
router.register("me/tokens", driver.MyTokenViewSet, basename="my-token")
router.register("me/invoices", driver.MyInvoiceViewSet, basename="my-invoice")
router.register("me/reservations", driver.MyReservationViewSet, basename="my-reservation")
router.register("me/bookings", driver.MyBookingViewSet, basename="my-booking")
router.register("me/support-cases", support.MySupportCaseViewSet, basename="my-support-case")
router.register("charge-points", staff.ChargePointViewSet, basename="charge-point")
router.register("sessions", staff.SessionViewSet, basename="session")
router.register("tokens", staff.TokenViewSet, basename="token")
router.register("users", staff.UserViewSet, basename="user")
router.register("sites", sites.SiteViewSet, basename="site")
router.register("tickets", tickets.TicketViewSet, basename="ticket")
router.register("webhooks", webhooks.WebhookEndpointViewSet, basename="webhook")
router.register("audit-records", audit.AuditRecordViewSet, basename="audit-record")

app_name = "api"

v1 = [
    path("connectors/<int:pk>/price/", public.ConnectorPriceView.as_view(), name="connector-price"),
    path("me/wallet/", driver.MyWalletView.as_view(), name="my-wallet"),
    path("me/wallet/entries/", driver.MyWalletEntryList.as_view(), name="my-wallet-entries"),
    path(
        "me/notifications/",
        driver.MyNotificationSettingsView.as_view(),
        name="my-notifications",
    ),
    path("me/nearby-watch/", nearby.MyNearbyWatchView.as_view(), name="my-nearby-watch"),
    path("uptime/", uptime.UptimeView.as_view(), name="uptime"),
    *router.urls,
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script from /api/docs/?script= rather than inline: the
    # Content-Security-Policy (settings.SECURE_CSP) runs no inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
