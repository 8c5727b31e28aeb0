"""The guest pages behind a charger's QR code look like the rest of the site: the portal's
layout (templates/base.html), its stylesheet and header, with the guest's own narrow
column on top, and Stripe.js loaded before the card form that needs it."""

import pytest
from django.conf import settings
from django.urls import reverse

from billing import guest
from billing.models import GuestPayment
from tests.billing.guest_charging import connector_in_database, priced_site
from tests.page_assets import asset_urls

pytestmark = pytest.mark.django_db


def test_the_connector_page_has_the_portal_layout_and_stays_out_of_search_engines(client):
    connector = connector_in_database("QR-LOOK", site=priced_site())

    page = client.get(guest.guest_path(connector)).content.decode()

    urls = asset_urls(page)
    assert f"{settings.STATIC_URL}portal/portal.css" in urls
    assert f"{settings.STATIC_URL}billing/guest.css" in urls
    assert 'class="site-header"' in page and reverse("set_language") in page
    assert '<meta name="robots" content="noindex">' in page


def test_stripe_js_loads_before_the_card_form_script(client, stripe_configured):
    connector = connector_in_database("QR-LOOK-PAY", site=priced_site())
    client.post(guest.guest_path(connector), {"email": ""})
    guest_payment = GuestPayment.objects.get()

    page = client.get(reverse("guest:pay", kwargs={"public_id": guest_payment.public_id}))

    urls = asset_urls(page.content.decode())
    assert page.status_code == 200
    assert urls.index("https://js.stripe.com/v3/") < urls.index(
        f"{settings.STATIC_URL}billing/card_form.js"
    )
    assert f"{settings.STATIC_URL}portal/portal.css" in urls
