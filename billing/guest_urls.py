"""Public pages of guest payment at the charger, included under /charge/ (no login)."""

from django.urls import path

from billing import guest_views

app_name = "guest"

urlpatterns = [
    path("guest/<uuid:public_id>/", guest_views.status_page, name="status"),
    path("guest/<uuid:public_id>/pay/", guest_views.payment_page, name="pay"),
    path("guest/<uuid:public_id>/receipt.pdf", guest_views.receipt_pdf, name="receipt"),
    # The address on the QR code of each connector (billing.guest.guest_path).
    path(
        "<str:charge_point_id>/<int:connector_id>/",
        guest_views.connector_page,
        name="connector",
    ),
]
