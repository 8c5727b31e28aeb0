"""Billing pages for drivers: the PDF of an invoice, receipt or credit note."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from billing import documents


@require_safe
@login_required
def invoice_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The document's PDF, for the driver whose account it is and for staff who may
    view invoices; anyone else gets 404, as if it did not exist."""
    invoice = get_object_or_404(documents.visible_to(request.user), pk=pk)
    response = HttpResponse(documents.render_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{invoice.display_number}.pdf"
    )
    # Personal data: no shared cache may keep it.
    patch_cache_control(response, private=True, no_store=True)
    return response
