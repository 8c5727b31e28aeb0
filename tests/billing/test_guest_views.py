"""The guest pages behind a connector's QR code (billing/guest_views.py), as a phone
sees them: the price, the card form, the status while charging, the receipt; and the
printable QR codes in admin."""

import json
import re
import uuid
from decimal import Decimal

import pytest
import segno
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from billing import guest, settlement
from billing.models import GuestPayment, SessionCharge
from tests.billing.guest_charging import (
    connector_in_database,
    connector_of,
    intent_at_stripe,
    pay_as_the_browser_would,
    priced_site,
    received_at_stripe,
    remote_starts,
    report_status,
    rich_tariff_site,
    start_transaction,
    stop_transaction,
)
from tests.stations.ocpp_wire import ago, iso, send
from users.models import User

Status = GuestPayment.Status


def page_of(connector) -> str:
    return guest.guest_path(connector)


def text(response) -> str:
    """The visible text of a page, whitespace folded, for asserting on sentences."""
    without_tags = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(without_tags.split())


def guest_page(name: str, public_id) -> str:
    return reverse(f"guest:{name}", kwargs={"public_id": public_id})


# --- The connector page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_connector_page_shows_the_full_price_and_the_card_form(client, stripe_configured):
    connector = connector_in_database("QR-PRICE", site=rich_tariff_site())

    response = client.get(page_of(connector))

    assert response.status_code == 200
    shown = text(response)
    assert "Charger QR-PRICE, connector 1" in shown
    assert "Charger online" in shown and "Available" in shown
    # Every price incl. 25 % VAT, as Swedish consumer prices are shown.
    assert "Energy 5.00 SEK/kWh" in shown
    assert "Charging time 0.50 SEK/min" in shown
    assert "Start fee 12.50 SEK" in shown
    assert "Idle fee" in shown and "after 15 minutes free of charge. 1.25 SEK/min" in shown
    assert "Minimum per session 25.00 SEK" in shown
    assert "Maximum per session 375.00 SEK" in shown
    assert "Night" in shown and "Mon, Tue, Wed, Thu, Fri 22:00\u201306:00 2.50 SEK/kWh" in shown
    assert "All prices include 25% VAT." in shown
    assert "We reserve 300.00 SEK on your card" in shown
    assert 'type="email"' in response.content.decode()
    assert "Continue to payment" in shown


@pytest.mark.django_db
def test_the_hold_is_printed_as_every_amount_is_printed_grouped_in_thousands(
    client, stripe_configured, settings
):
    settings.BILLING_GUEST_PREAUTHORISATION = Decimal("1500")
    connector = connector_in_database("QR-HOLD", site=priced_site())

    shown = text(client.get(page_of(connector)))

    # As on the receipt (billing.money.format_money): 1,500.00, not 1500.00.
    assert "We reserve 1,500.00 SEK on your card" in shown


@pytest.mark.django_db
def test_without_stripe_keys_the_page_says_card_payment_is_not_configured(
    client, stripe_not_configured
):
    connector = connector_in_database("QR-NOKEYS", site=priced_site())

    page = client.get(page_of(connector))
    sent = client.post(page_of(connector), {"email": "guest@example.com"})

    for response in (page, sent):
        assert response.status_code == 503
        assert "Paying by card is not configured" in text(response)
        assert "Energy 5.00 SEK/kWh" in text(response)  # the price is still public
        assert "Continue to payment" not in text(response)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_an_offline_charger_shows_why_and_refuses_to_start(client, stripe_configured):
    connector = connector_in_database("QR-OFFLINE", site=priced_site(), online=False)

    page = client.get(page_of(connector))
    sent = client.post(page_of(connector), {"email": "guest@example.com"})

    assert page.status_code == 200
    assert "Charger offline" in text(page) and "Continue to payment" not in text(page)
    assert sent.status_code == 409
    assert "QR-OFFLINE is offline right now" in text(sent)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_a_busy_connector_refuses_to_start(client, stripe_configured):
    connector = connector_in_database("QR-BUSY", site=priced_site(), status="Charging")

    sent = client.post(page_of(connector), {"email": "guest@example.com"})

    assert sent.status_code == 409
    assert "Connector 1 is not available right now (Charging)" in text(sent)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_a_bad_email_address_is_a_bad_request(client, stripe_configured):
    connector = connector_in_database("QR-BADMAIL", site=priced_site())

    sent = client.post(page_of(connector), {"email": "not an address"})

    assert sent.status_code == 400
    assert "Enter a valid email address." in text(sent)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_the_form_starts_a_payment_and_sends_the_guest_to_pay(client, stripe_configured):
    connector = connector_in_database("QR-PAY", site=priced_site())

    sent = client.post(page_of(connector), {"email": "anna@example.com"})

    guest_payment = GuestPayment.objects.get()
    assert sent.status_code == 302
    assert sent["Location"] == guest_page("pay", guest_payment.public_id)
    assert (guest_payment.email, guest_payment.connector) == ("anna@example.com", connector)

    payment = client.get(sent["Location"])

    assert payment.status_code == 200
    assert '<script src="https://js.stripe.com/v3/"></script>' in payment.content.decode()
    config = json.loads(
        re.search(
            r'<script id="stripe-config" type="application/json">(.*?)</script>',
            payment.content.decode(),
        ).group(1)
    )
    assert config == {
        "publishableKey": "pk_test_chargehublocalstripe0000000001",
        "clientSecret": intent_at_stripe(guest_payment).client_secret,
        "email": "anna@example.com",
        "returnUrl": "http://testserver" + guest_page("status", guest_payment.public_id),
    }
    assert "300.00 SEK will be reserved on your card" in text(payment)


@pytest.mark.django_db
def test_an_email_is_optional(client, stripe_configured):
    connector = connector_in_database("QR-NOMAIL", site=priced_site())
    assert client.post(page_of(connector), {"email": ""}).status_code == 302
    assert GuestPayment.objects.get().email == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/charge/NO-SUCH-CP/1/", "/charge/QR-KNOWN/2/", "/charge/QR-KNOWN/0/"],
    ids=["unknown charger", "unknown connector", "connector 0 is the charger"],
)
def test_an_unknown_connector_is_not_found(client, stripe_configured, path):
    connector_in_database("QR-KNOWN", site=priced_site())
    response = client.get(path)
    assert response.status_code == 404
    assert "There is no such connector" in text(response)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["status", "pay", "receipt"])
def test_an_unknown_guest_payment_is_not_found(client, stripe_configured, name):
    response = client.get(guest_page(name, uuid.uuid4()))
    assert response.status_code == 404
    assert "There is no such payment" in text(response)


@pytest.mark.django_db
def test_no_receipt_before_the_session_has_ended(client, stripe_configured):
    connector = connector_in_database("QR-NORECEIPT", site=priced_site())
    guest_payment = guest.start(connector, email="", language="en")
    response = client.get(guest_page("receipt", guest_payment.public_id))
    assert response.status_code == 404
    assert "The receipt is issued when the session has ended" in text(response)


# --- With a real charger -----------------------------------------------------------------------


async def test_a_guest_pays_charges_and_downloads_the_receipt(
    charger, stripe_configured, mailoutbox
):
    client = Client()
    site = await sync_to_async(priced_site)()
    async with charger("QR-FLOW", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("QR-FLOW")
        sent = await sync_to_async(client.post)(page_of(connector), {"email": "eva@example.com"})
        assert sent.status_code == 302
        guest_payment = await sync_to_async(GuestPayment.objects.get)()
        status_url = guest_page("status", guest_payment.public_id)

        waiting = await sync_to_async(client.get)(status_url)
        assert "Waiting for your card to be confirmed" in text(waiting)
        assert remote_starts(cp) == []

        await sync_to_async(pay_as_the_browser_would)(guest_payment)
        ready = await sync_to_async(client.get)(status_url)  # where Stripe.js sends them

        assert ready.status_code == 200
        assert "plug in your car" in text(ready)
        assert remote_starts(cp) == [{"id_tag": guest_payment.id_tag, "connector_id": 1}]
        started = await start_transaction(cp, guest_payment.id_tag)
        await send(
            cp,
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": started["transactionId"],
                "meterValue": [
                    {
                        "timestamp": iso(ago(minutes=10)),
                        "sampledValue": [{"value": "3000", "unit": "Wh"}],
                    }
                ],
            },
        )
        charging = await sync_to_async(client.get)(status_url)
        assert "Charging." in text(charging)
        assert "Energy 2.00 kWh" in text(charging)
        assert "Cost so far 10.00 SEK" in text(charging)
        assert "Stop charging at the charger" in text(charging)

        await stop_transaction(cp, started["transactionId"], 9000)
    charge = await sync_to_async(settlement.freeze_price)(started["transactionId"])
    # What the settlement does for a guest's session once it is priced.
    await sync_to_async(guest.collect)(charge)

    paid = await sync_to_async(client.get)(status_url)
    assert "Paid: 40.00 SEK" in text(paid)
    assert "The receipt was sent to eva@example.com" in text(paid)
    assert await sync_to_async(received_at_stripe)(guest_payment) == 4000
    assert [message.to for message in mailoutbox] == [["eva@example.com"]]
    receipt = await sync_to_async(client.get)(guest_page("receipt", guest_payment.public_id))
    assert receipt.status_code == 200
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF")
    charge = await sync_to_async(SessionCharge.objects.get)(pk=charge.pk)
    assert charge.status == SessionCharge.Status.PAID


async def test_a_declined_card_is_shown_and_nothing_starts(charger, stripe_configured):
    client = Client()
    site = await sync_to_async(priced_site)()
    async with charger("QR-DECLINED", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("QR-DECLINED")
        await sync_to_async(client.post)(page_of(connector), {"email": ""})
        guest_payment = await sync_to_async(GuestPayment.objects.get)()
        await sync_to_async(pay_as_the_browser_would)(guest_payment, "pm_card_chargeCustomerFail")

        page = await sync_to_async(client.get)(guest_page("status", guest_payment.public_id))

        assert page.status_code == 200
        assert "The card was not accepted: Your card was declined." in text(page)
        assert guest_page("pay", guest_payment.public_id) in page.content.decode()
        assert remote_starts(cp) == []


async def test_a_charger_that_refuses_to_start_is_shown_and_nothing_is_charged(
    charger, stripe_configured
):
    client = Client()
    site = await sync_to_async(priced_site)()
    async with charger("QR-REJECT", site=site) as cp:
        await report_status(cp)
        cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        connector = await sync_to_async(connector_of)("QR-REJECT")
        await sync_to_async(client.post)(page_of(connector), {"email": ""})
        guest_payment = await sync_to_async(GuestPayment.objects.get)()
        await sync_to_async(pay_as_the_browser_would)(guest_payment)

        page = await sync_to_async(client.get)(guest_page("status", guest_payment.public_id))

        assert "The charger did not start (it answered Rejected). Nothing was charged." in text(
            page
        )
        assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "canceled"


# --- Admin ---------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(db) -> Client:
    user = User.objects.create_superuser(email="staff@example.com", password="x" * 20)
    client = Client()
    client.force_login(user)
    return client


def test_admin_prints_a_qr_code_of_each_connectors_public_address(staff_client, settings):
    settings.BILLING_PUBLIC_URL = "https://charge.example.com/"
    connector = connector_in_database("QR-ADMIN", site=None)
    charge_point = connector.charge_point
    connector.pk = None
    connector.connector_id = 2
    connector.save()

    change_page = staff_client.get(
        reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
    )
    qr_page_url = reverse("admin:billing_guestpayment_qr_codes")
    # A charger not saved yet has no codes to print; its form still renders.
    assert staff_client.get(reverse("admin:stations_chargepoint_add")).status_code == 200
    assert f"{qr_page_url}?charge_point={charge_point.pk}" in change_page.content.decode()
    action = staff_client.post(
        reverse("admin:stations_chargepoint_changelist"),
        {"action": "print_guest_qr_codes", "_selected_action": [charge_point.pk]},
    )
    assert action.status_code == 302
    assert action["Location"] == f"{qr_page_url}?charge_point={charge_point.pk}"

    page = staff_client.get(action["Location"])

    assert page.status_code == 200
    content = page.content.decode()
    for number in (1, 2):
        url = f"https://charge.example.com/charge/QR-ADMIN/{number}/"
        assert url in content
        # The code encodes exactly that address.
        expected = segno.make(url, error="q", micro=False).svg_inline(scale=6, border=4)
        assert expected in content
    assert content.count('class="segno"') == 2


def test_admin_qr_codes_need_permission_to_see_charge_points(db, client):
    user = User.objects.create_user(email="desk@example.com", password="x" * 20, is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:billing_guestpayment_qr_codes")).status_code == 403


def test_admin_lists_guest_payments_read_only(staff_client, stripe_configured):
    connector = connector_in_database("QR-LIST", site=priced_site())
    guest_payment = guest.start(connector, email="list@example.com", language="en")

    listing = staff_client.get(reverse("admin:billing_guestpayment_changelist"))
    detail = staff_client.get(reverse("admin:billing_guestpayment_change", args=[guest_payment.pk]))

    assert listing.status_code == 200 and guest_payment.id_tag in listing.content.decode()
    assert detail.status_code == 200 and "list@example.com" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert staff_client.get(reverse("admin:billing_guestpayment_add")).status_code == 403
