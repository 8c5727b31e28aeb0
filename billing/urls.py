"""Billing pages of the portal, under /billing/ (chargehub/urls.py)."""

from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("invoices/<int:pk>.pdf", views.invoice_pdf, name="invoice-pdf"),
]
