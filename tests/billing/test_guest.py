"""billing/guest.py: a guest pays by card at the charger, without an account.

The card is held (a manual-capture PaymentIntent at localstripe) before a real charger
is asked to start over OCPP; the price is captured when the session has ended, the rest
released, and a receipt sent. Each step is safe to repeat.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing import guest
from billing.models import GuestPayment, Invoice, SessionCharge
from stations.models import Connector
from tests.billing.guest_charging import (
    connector_in_database,
    connector_of,
    guest_session,
    intent_at_stripe,
    pay_as_the_browser_would,
    priced_site,
    received_at_stripe,
    remote_starts,
    report_status,
    start_transaction,
)
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken

Status = GuestPayment.Status


def _start(connector: Connector, email: str = "guest@example.com") -> GuestPayment:
    return guest.start(connector, email=email, language="sv")


# --- The public address ------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_connector_has_a_public_address_under_the_public_url(settings):
    settings.BILLING_PUBLIC_URL = "https://charge.example.com"
    connector = connector_in_database("GUEST-PATH:1", site=None)
    assert guest.guest_path(connector) == "/charge/GUEST-PATH:1/1/"
    assert guest.guest_url(connector) == "https://charge.example.com/charge/GUEST-PATH:1/1/"
    assert guest.qr_code_svg(guest.guest_url(connector)).startswith("<svg")


# --- Who may start -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_stripe_keys_a_guest_is_told_card_payment_is_not_configured(
    stripe_not_configured,
):
    connector = connector_in_database("GUEST-NOKEYS", site=priced_site())
    with pytest.raises(guest.NotConfigured, match="not configured"):
        _start(connector)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_an_offline_charger_is_refused(stripe_configured):
    connector = connector_in_database("GUEST-OFFLINE", site=priced_site(), online=False)
    with pytest.raises(guest.ConnectorNotReady, match="offline"):
        _start(connector)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_a_charger_silent_for_longer_than_its_heartbeats_is_offline(stripe_configured):
    connector = connector_in_database("GUEST-SILENT", site=priced_site())
    charge_point = connector.charge_point
    charge_point.last_seen_at = timezone.now() - 3 * charge_point.offline_after
    charge_point.save()
    with pytest.raises(guest.ConnectorNotReady, match="offline"):
        _start(connector)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["Charging", "Faulted", "Unavailable", "Reserved", "Unknown"])
def test_a_connector_that_is_not_available_is_refused(stripe_configured, status):
    connector = connector_in_database(f"GUEST-{status}", site=priced_site(), status=status)
    with pytest.raises(guest.ConnectorNotReady, match="not available"):
        _start(connector)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_a_car_already_plugged_in_may_start(stripe_configured):
    connector = connector_in_database("GUEST-PREP", site=priced_site(), status="Preparing")
    assert _start(connector).status == Status.CREATED


@pytest.mark.django_db
def test_a_connector_without_a_price_is_refused(stripe_configured):
    connector = connector_in_database("GUEST-NOTARIFF", site=None)
    with pytest.raises(guest.NoTariff):
        _start(connector)
    assert not GuestPayment.objects.exists()


@pytest.mark.django_db
def test_a_connector_another_guest_just_paid_for_is_refused(stripe_configured):
    connector = connector_in_database("GUEST-HELD", site=priced_site())
    first = _start(connector)
    GuestPayment.objects.filter(pk=first.pk).update(status=Status.STARTED)
    with pytest.raises(guest.ConnectorNotReady, match="Another guest"):
        _start(connector)
    # A guest who paid but never plugged in holds the connector only for a while.
    GuestPayment.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - guest.PLUG_IN_WINDOW - timedelta(minutes=1)
    )
    assert _start(connector).status == Status.CREATED


# --- The hold on the card ----------------------------------------------------------------------


@pytest.mark.django_db
def test_start_holds_the_preauthorisation_with_a_manual_capture_payment_intent(
    stripe_configured, settings
):
    settings.BILLING_GUEST_PREAUTHORISATION = Decimal("250.505")
    connector = connector_in_database("GUEST-HOLD", site=priced_site())

    guest_payment = _start(connector, email="anna@example.com")

    guest_payment.refresh_from_db()
    assert guest_payment.status == Status.CREATED
    assert (guest_payment.email, guest_payment.language) == ("anna@example.com", "sv")
    assert guest_payment.amount_authorised == Decimal("250.51")  # to the öre, half up
    intent = intent_at_stripe(guest_payment)
    assert (intent.amount, intent.currency) == (25051, "sek")
    assert intent.capture_method == "manual"
    assert intent.status == "requires_payment_method"  # the browser brings the card
    assert intent.metadata[guest.METADATA_KEY] == str(guest_payment.public_id)
    assert intent.metadata["id_tag"] == guest_payment.id_tag
    assert guest.client_secret(guest_payment) == intent.client_secret
    # No token yet: the tag only works once the card is held.
    assert not IdToken.objects.filter(uid=guest_payment.id_tag).exists()


@pytest.mark.django_db
def test_every_guest_gets_a_new_id_tag_that_fits_ocpp(stripe_configured):
    connector = connector_in_database("GUEST-TAGS", site=priced_site())
    tags = {_start(connector).id_tag for _ in range(3)}
    assert len(tags) == 3
    for tag in tags:
        # OCPP 1.6 IdToken: CiString20, stored upper case (stations.authorization).
        assert len(tag) <= 20 and tag == tag.upper() and tag.startswith("G")


async def test_nothing_starts_before_the_card_is_confirmed(charger, stripe_configured):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-UNPAID", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("GUEST-UNPAID")
        guest_payment = await sync_to_async(_start)(connector)
        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)
        assert guest_payment.status == Status.CREATED
        assert remote_starts(cp) == []
    assert not await sync_to_async(IdToken.objects.filter(uid=guest_payment.id_tag).exists)()


async def test_a_declined_card_starts_nothing_and_says_why(charger, stripe_configured):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-DECLINED", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("GUEST-DECLINED")
        guest_payment = await sync_to_async(_start)(connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment, "pm_card_chargeCustomerFail")

        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)

        assert guest_payment.status == Status.CREATED  # another card may be tried
        assert "declined" in guest_payment.error
        assert remote_starts(cp) == []
        # The charger would refuse the tag too: it was never made a token.
        answer = await send(cp, "Authorize", {"idTag": guest_payment.id_tag})
        assert answer["idTagInfo"]["status"] == "Invalid"


async def test_a_held_card_starts_the_connector_with_a_one_off_id_tag(charger, stripe_configured):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-START", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("GUEST-START")
        guest_payment = await sync_to_async(_start)(connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment)

        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)
        again = await sync_to_async(guest.card_authorised)(guest_payment)  # a reload

        assert (guest_payment.status, again.status) == (Status.STARTED, Status.STARTED)
        assert remote_starts(cp) == [{"id_tag": guest_payment.id_tag, "connector_id": 1}]
        assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "requires_capture"
        token = await sync_to_async(IdToken.objects.get)(uid=guest_payment.id_tag)
        assert (token.type, token.owner_id, token.status) == ("App", None, "Accepted")
        assert timezone.now() < token.expires_at <= timezone.now() + guest.TOKEN_VALIDITY
        # The charger asks before it starts (AuthorizeRemoteTxRequests), then starts.
        answer = await send(cp, "Authorize", {"idTag": guest_payment.id_tag})
        assert answer["idTagInfo"]["status"] == "Accepted"
        started = await start_transaction(cp, guest_payment.id_tag)
        assert started["idTagInfo"]["status"] == "Accepted"
        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)
        session = await sync_to_async(guest.session_of)(guest_payment)
        assert session.pk == started["transactionId"]
        price = await sync_to_async(guest.cost_so_far)(guest_payment)
        assert price is not None and not price.is_final


async def test_a_charger_that_rejects_the_remote_start_releases_the_hold(
    charger, stripe_configured
):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-REJECT", site=site) as cp:
        await report_status(cp)
        cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        connector = await sync_to_async(connector_of)("GUEST-REJECT")
        guest_payment = await sync_to_async(_start)(connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment)

        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)

        assert guest_payment.status == Status.FAILED
        assert "Rejected" in guest_payment.error
        assert len(remote_starts(cp)) == 1
        intent = await sync_to_async(intent_at_stripe)(guest_payment)
        assert intent.status == "canceled"
        assert await sync_to_async(received_at_stripe)(guest_payment) == 0
        answer = await send(cp, "Authorize", {"idTag": guest_payment.id_tag})
        assert answer["idTagInfo"]["status"] == "Blocked"
        # Nothing more happens on a reload.
        again = await sync_to_async(guest.card_authorised)(guest_payment)
        assert again.status == Status.FAILED and len(remote_starts(cp)) == 1


async def test_a_charger_gone_offline_before_the_remote_start_releases_the_hold(
    charger, stripe_configured
):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-GONE", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("GUEST-GONE")
        guest_payment = await sync_to_async(_start)(connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment)
    # The charger disconnected while the guest typed in their card.

    guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)

    assert guest_payment.status == Status.FAILED
    assert "offline" in guest_payment.error
    assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "canceled"
    token = await sync_to_async(IdToken.objects.get)(uid=guest_payment.id_tag)
    assert token.status == IdToken.Status.BLOCKED


# --- Collecting the price ----------------------------------------------------------------------


async def test_the_price_is_captured_the_rest_released_and_a_receipt_emailed(
    charger, stripe_configured, mailoutbox
):
    guest_payment, charge = await guest_session(charger, "GUEST-PAID", wh=24_690)
    assert charge.gross == Decimal("123.45")  # 24.69 kWh at 5 SEK incl. VAT

    await sync_to_async(guest.collect)(charge)

    await sync_to_async(guest_payment.refresh_from_db)()
    await sync_to_async(charge.refresh_from_db)()
    assert guest_payment.status == Status.CAPTURED
    assert guest_payment.amount_captured == Decimal("123.45")
    assert guest_payment.error == ""
    assert guest_payment.session_id == charge.session_id
    assert await sync_to_async(received_at_stripe)(guest_payment) == 12345
    assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "succeeded"
    assert charge.status == SessionCharge.Status.PAID
    assert charge.paid_at is not None
    assert charge.payment_reference == guest_payment.payment_intent_id
    receipt = await sync_to_async(Invoice.objects.get)(pk=guest_payment.receipt_id)
    assert (receipt.kind, receipt.gross, receipt.account_id) == ("receipt", Decimal("123.45"), None)
    assert (receipt.buyer_email, receipt.language) == ("guest@example.com", "en")
    assert charge.document_id == receipt.pk
    assert [message.to for message in mailoutbox] == [["guest@example.com"]]
    assert mailoutbox[0].attachments[0][2] == "application/pdf"
    token = await sync_to_async(IdToken.objects.get)(uid=guest_payment.id_tag)
    assert token.status == IdToken.Status.BLOCKED  # the one-off tag cannot charge again


async def test_collecting_twice_captures_once_and_sends_one_receipt(
    charger, stripe_configured, mailoutbox
):
    guest_payment, charge = await guest_session(charger, "GUEST-TWICE", wh=10_000)

    await sync_to_async(guest.collect)(charge)
    await sync_to_async(guest.collect)(charge)
    fresh = await sync_to_async(SessionCharge.objects.get)(pk=charge.pk)
    await sync_to_async(guest.collect)(fresh)

    await sync_to_async(guest_payment.refresh_from_db)()
    assert guest_payment.amount_captured == Decimal("50.00")
    assert await sync_to_async(received_at_stripe)(guest_payment) == 5000
    assert await sync_to_async(Invoice.objects.filter(kind="receipt").count)() == 1
    assert len(mailoutbox) == 1


async def test_a_session_that_cost_nothing_releases_the_whole_hold(
    charger, stripe_configured, mailoutbox
):
    guest_payment, charge = await guest_session(charger, "GUEST-ZERO", wh=0)
    assert charge.gross == Decimal("0.00")

    await sync_to_async(guest.collect)(charge)

    await sync_to_async(guest_payment.refresh_from_db)()
    await sync_to_async(charge.refresh_from_db)()
    assert guest_payment.status == Status.RELEASED
    assert guest_payment.amount_captured == Decimal("0.00")
    assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "canceled"
    assert await sync_to_async(received_at_stripe)(guest_payment) == 0
    assert charge.status == SessionCharge.Status.NOTHING_DUE
    assert guest_payment.receipt_id is None and mailoutbox == []


async def test_a_price_below_the_stripe_minimum_is_captured_as_it_is(charger, stripe_configured):
    # Stripe's 3 SEK minimum is for creating a payment; part of a hold can be captured.
    guest_payment, charge = await guest_session(charger, "GUEST-SMALL", wh=300)
    assert charge.gross == Decimal("1.50")

    await sync_to_async(guest.collect)(charge)

    await sync_to_async(guest_payment.refresh_from_db)()
    assert guest_payment.status == Status.CAPTURED
    assert await sync_to_async(received_at_stripe)(guest_payment) == 150


async def test_a_price_above_the_hold_captures_the_hold_and_records_the_shortfall(
    charger, stripe_configured
):
    guest_payment, charge = await guest_session(charger, "GUEST-OVER", wh=100_000)
    assert charge.gross == Decimal("500.00")

    await sync_to_async(guest.collect)(charge)

    await sync_to_async(guest_payment.refresh_from_db)()
    await sync_to_async(charge.refresh_from_db)()
    assert guest_payment.amount_captured == Decimal("300.00")
    assert await sync_to_async(received_at_stripe)(guest_payment) == 30000
    assert "200.00 SEK could not be collected" in guest_payment.error
    assert charge.last_error == guest_payment.error
    assert charge.status == SessionCharge.Status.PAID


async def test_collecting_without_stripe_keeps_the_charge_pending_for_a_later_run(
    charger, stripe_configured, settings
):
    guest_payment, charge = await guest_session(charger, "GUEST-LATER", wh=2_000)
    settings.STRIPE_SECRET_KEY = ""

    await sync_to_async(guest.collect)(charge)

    await sync_to_async(charge.refresh_from_db)()
    assert charge.status == SessionCharge.Status.PENDING
    assert "not configured" in charge.last_error
    assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "requires_capture"

    settings.STRIPE_SECRET_KEY = stripe_configured
    await sync_to_async(guest.collect)(charge)

    await sync_to_async(charge.refresh_from_db)()
    assert (charge.status, charge.last_error) == (SessionCharge.Status.PAID, "")
    assert await sync_to_async(received_at_stripe)(guest_payment) == 1000


# --- Housekeeping ------------------------------------------------------------------------------


def _age(guest_payment: GuestPayment, by: timedelta) -> None:
    GuestPayment.objects.filter(pk=guest_payment.pk).update(created_at=timezone.now() - by)


@pytest.mark.django_db
def test_a_hold_the_guest_never_came_back_for_is_released(stripe_configured):
    connector = connector_in_database("GUEST-ABANDONED", site=priced_site())
    abandoned = _start(connector)
    pay_as_the_browser_would(abandoned)  # held, but the status page was never opened
    _age(abandoned, guest.ABANDONED_AFTER + timedelta(minutes=1))
    still_paying = _start(connector)

    assert guest.release_abandoned_holds() == 1
    assert guest.release_abandoned_holds() == 0

    abandoned.refresh_from_db()
    assert abandoned.status == Status.FAILED
    assert intent_at_stripe(abandoned).status == "canceled"
    assert received_at_stripe(abandoned) == 0
    still_paying.refresh_from_db()
    assert still_paying.status == Status.CREATED
    # Coming back after the release starts nothing.
    assert guest.card_authorised(abandoned).status == Status.FAILED


async def test_a_started_connector_nobody_plugged_into_releases_the_hold(
    charger, stripe_configured
):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-NOPLUG", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("GUEST-NOPLUG")
        guest_payment = await sync_to_async(_start)(connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment)
        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)
        assert guest_payment.status == Status.STARTED
    await sync_to_async(_age)(guest_payment, guest.TOKEN_VALIDITY - timedelta(minutes=1))
    assert await sync_to_async(guest.release_abandoned_holds)() == 0  # the tag still works

    await sync_to_async(_age)(guest_payment, guest.TOKEN_VALIDITY + timedelta(minutes=1))
    assert await sync_to_async(guest.release_abandoned_holds)() == 1

    await sync_to_async(guest_payment.refresh_from_db)()
    assert guest_payment.status == Status.RELEASED
    assert (await sync_to_async(intent_at_stripe)(guest_payment)).status == "canceled"
    token = await sync_to_async(IdToken.objects.get)(uid=guest_payment.id_tag)
    assert token.status == IdToken.Status.BLOCKED


async def test_a_guest_session_nearing_its_hold_is_stopped_and_kept(charger, stripe_configured):
    site = await sync_to_async(priced_site)()
    async with charger("GUEST-NEARLIMIT", site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("GUEST-NEARLIMIT")
        guest_payment = await sync_to_async(_start)(connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment)
        await sync_to_async(guest.card_authorised)(guest_payment)
        started = await start_transaction(cp, guest_payment.id_tag, meter_start=1000)
        transaction_id = started["transactionId"]

        assert await sync_to_async(guest.stop_sessions_nearing_their_hold)() == 0

        # 53 kWh: 265 SEK, below 90 % of the 300 SEK held; 54 kWh: 270 SEK, not below.
        for minutes_ago, wh in ((20, 54_000), (10, 55_000)):
            await send(
                cp,
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": transaction_id,
                    "meterValue": [
                        {
                            "timestamp": iso(ago(minutes=minutes_ago)),
                            "sampledValue": [{"value": str(wh), "unit": "Wh"}],
                        }
                    ],
                },
            )
            stops = await sync_to_async(guest.stop_sessions_nearing_their_hold)()
            assert stops == (0 if wh == 54_000 else 1)

        assert [
            request for action, request in cp.received if action == "RemoteStopTransaction"
        ] == [{"transaction_id": transaction_id}]
        # A running session is not an abandoned hold, however long it runs.
        await sync_to_async(_age)(guest_payment, guest.TOKEN_VALIDITY + timedelta(hours=1))
        assert await sync_to_async(guest.release_abandoned_holds)() == 0
