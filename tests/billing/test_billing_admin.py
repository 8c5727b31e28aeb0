"""Money in admin: billing accounts, session charges (retrying a declined card), wallet
entries (crediting a wallet by hand) and refunds from the credit form."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditRecord
from billing import settlement
from billing.models import (
    BillingAccount,
    Invoice,
    SessionCharge,
    Tariff,
    TimeOfUsePeriod,
    WalletEntry,
)
from billing.wallet import credit_wallet_manually, wallet_balance
from stations.models import ChargingSession
from tests.billing.conftest import saved_card
from tests.billing.sessions import charging_site, finished_session, meter_sample, token_of

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)


def settled(driver, method: str, wh: int = 10_000) -> SessionCharge:
    BillingAccount.objects.update_or_create(user=driver, defaults={"payment_method": method})
    session = finished_session(charging_site(), token_of(driver), started_at=STARTED, wh=wh)
    return settlement.settle_session(session.pk)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_accounts_list_shows_how_each_pays_and_the_wallet(admin_client, driver, staff):
    BillingAccount.objects.create(user=driver, payment_method="wallet")
    credit_wallet_manually(driver, Decimal("75"), staff=staff, reason="Cash")

    response = admin_client.get(reverse("admin:billing_billingaccount_changelist"))

    page = response.content.decode()
    assert response.status_code == 200
    assert driver.email in page and "75.00" in page


def test_session_charges_are_read_only_with_their_price(admin_client, driver):
    charge = settled(driver, "invoice")

    listing = admin_client.get(reverse("admin:billing_sessioncharge_changelist"))
    change = admin_client.get(reverse("admin:billing_sessioncharge_change", args=[charge.pk]))
    add = admin_client.get(reverse("admin:billing_sessioncharge_add"))

    assert listing.status_code == 200 and "12.50" in listing.content.decode()
    assert change.status_code == 200 and b'name="gross"' not in change.content
    assert add.status_code == 403


def test_staff_retry_a_declined_card_after_the_driver_fixed_it(
    admin_client, admin_user, stripe_configured, driver
):
    saved_card(driver, "pm_card_chargeCustomerFail")
    charge = settled(driver, "card", wh=20_000)
    assert charge.status == SessionCharge.Status.FAILED
    saved_card(driver, "pm_card_visa")

    response = admin_client.post(
        reverse("admin:billing_sessioncharge_changelist"),
        {"action": "retry_payment", "_selected_action": [charge.pk]},
        follow=True,
    )

    charge.refresh_from_db()
    assert charge.status == SessionCharge.Status.PAID
    assert "1 of 1 failed payments are now paid." in messages_of(response)
    # The money staff moved is in the audit: the card payment, made by them, from admin.
    record = AuditRecord.objects.get(object_type="billing.cardpayment", action="created")
    assert (record.actor, record.door) == (admin_user, AuditRecord.Door.ADMIN)


def test_staff_credit_a_wallet_by_hand_with_a_reason(admin_client, admin_user, driver):
    url = reverse("admin:billing_walletentry_credit")
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(
        url,
        {"driver": driver.pk, "amount": "150.00", "reason": "Bankgiro", "reference": "BG-1"},
        follow=True,
    )
    again = admin_client.post(
        url, {"driver": driver.pk, "amount": "99.00", "reason": "Bankgiro", "reference": "BG-1"}
    )

    entry = WalletEntry.objects.get()
    assert (entry.user, entry.amount, entry.created_by, entry.note) == (
        driver,
        Decimal("150.00"),
        admin_user,
        "Bankgiro",
    )
    assert f"150.00 SEK credited to {driver.email}." in messages_of(response)
    assert again.status_code == 200  # the form again, with the reason
    assert "BG-1 is already recorded" in again.content.decode()
    assert wallet_balance(driver) == Decimal("150.00")


@pytest.mark.parametrize("amount", ["0", "-5", "abc", ""])
def test_a_bad_manual_credit_is_a_form_error(admin_client, driver, amount):
    response = admin_client.post(
        reverse("admin:billing_walletentry_credit"),
        {"driver": driver.pk, "amount": amount, "reason": "Cash"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not WalletEntry.objects.exists()


def test_staff_without_permission_cannot_credit_wallets(client, make_user):
    clerk = make_user("billing.view_walletentry", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse("admin:billing_walletentry_credit")).status_code == 403


def test_crediting_a_wallet_receipt_in_admin_pays_the_wallet_back(admin_client, driver, staff):
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    receipt = settled(driver, "wallet").document  # 12.50 SEK

    response = admin_client.post(
        reverse("admin:billing_invoice_credit", args=[receipt.pk]),
        {"gross": "2.50", "reason": "Slow charger"},
        follow=True,
    )

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert note.refund_reference.startswith("wallet:")
    assert wallet_balance(driver) == Decimal("90.00")
    assert "2.50 SEK paid back" in " ".join(messages_of(response))


def test_crediting_a_card_receipt_in_admin_refunds_at_stripe(
    admin_client, stripe_configured, driver
):
    saved_card(driver)
    receipt = settled(driver, "card", wh=20_000).document

    admin_client.post(
        reverse("admin:billing_invoice_credit", args=[receipt.pk]), {"reason": "Fault"}
    )

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert note.gross == Decimal("-25.00")
    assert note.refund_reference.startswith("re_")


def test_a_credit_whose_money_cannot_go_back_says_so_and_can_be_paid_back_later(
    admin_client, stripe_configured, driver, settings
):
    saved_card(driver)
    receipt = settled(driver, "card", wh=20_000).document
    settings.STRIPE_SECRET_KEY = ""

    response = admin_client.post(
        reverse("admin:billing_invoice_credit", args=[receipt.pk]),
        {"reason": "Fault"},
        follow=True,
    )

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert note.refund_reference == ""
    assert any("not configured" in message for message in messages_of(response))
    settings.STRIPE_SECRET_KEY = stripe_configured
    admin_client.post(
        reverse("admin:billing_invoice_changelist"),
        {"action": "pay_back_credit_notes", "_selected_action": [note.pk]},
    )
    note.refresh_from_db()
    assert note.refund_reference.startswith("re_")


def test_tariff_list_shows_prices_as_drivers_read_them(admin_client):
    Tariff.objects.create(name="Two places", price_per_kwh=Decimal("3.0000"))
    Tariff.objects.create(name="Four places", price_per_kwh=Decimal("0.3125"))
    page = admin_client.get(reverse("admin:billing_tariff_changelist")).content.decode()
    assert "3.00<" in page and "0.3125<" in page
    assert "3.0000" not in page


def test_time_of_use_times_are_plain_local_times_without_the_browser_offset_note(admin_client):
    tariff = Tariff.objects.create(name="Peak", price_per_kwh=Decimal("2"))
    TimeOfUsePeriod.objects.create(
        tariff=tariff, name="Peak", weekdays="12345", start_time=time(16), end_time=time(20)
    )
    page = admin_client.get(reverse("admin:billing_tariff_change", args=[tariff.pk]))
    form = page.context["inline_admin_formsets"][0].formset.forms[0]
    assert type(form.fields["start_time"].widget) is forms.TimeInput
    assert 'value="16:00"' in page.content.decode()


def test_the_credit_form_says_the_money_goes_back_as_it_does(admin_client, driver):
    receipt = settled(driver, "wallet").document
    page = admin_client.get(reverse("admin:billing_invoice_credit", args=[receipt.pk]))
    text = " ".join(page.content.decode().split())
    assert "No money is paid back" not in text
    assert "paid back the same way" in text


def issue_now(client, account):
    response = client.post(
        reverse("admin:billing_billingaccount_changelist"),
        {"action": "issue_invoice_now", "index": "0", "_selected_action": [account.pk]},
        follow=True,
    )
    return messages_of(response)


def test_staff_issue_this_months_invoice_now_once_with_the_sessions_so_far(
    admin_client, driver, mailoutbox, django_capture_on_commit_callbacks
):
    account = BillingAccount.objects.create(user=driver, payment_method="invoice")
    connector = charging_site()
    earlier = timezone.now() - timedelta(hours=3)
    session = finished_session(connector, token_of(driver), started_at=earlier, wh=10_000)
    charge = settlement.settle_session(session.pk)
    assert charge.status == SessionCharge.Status.TO_INVOICE

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        shown = issue_now(admin_client, account)

    invoice = Invoice.objects.get(account=account, kind=Invoice.Kind.INVOICE)
    assert any(f"invoice {invoice.display_number} issued" in text for text in shown), shown
    assert invoice.period_start == timezone.localdate().replace(day=1)
    assert invoice.period_end == timezone.localdate()
    charge.refresh_from_db()
    assert charge.status == SessionCharge.Status.INVOICED
    assert [message.to for message in mailoutbox] == [[driver.email]]

    again = issue_now(admin_client, account)
    assert any("already issued" in text for text in again), again
    assert Invoice.objects.filter(account=account).count() == 1


def test_issue_now_with_nothing_to_invoice_says_so(admin_client, driver):
    account = BillingAccount.objects.create(user=driver, payment_method="invoice")
    assert any("nothing to invoice" in text for text in issue_now(admin_client, account))
    assert not Invoice.objects.exists()


def running_session(connector, token, *, minutes_ago: int = 30) -> ChargingSession:
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=token.uid,
        id_token=token,
        started_at=timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago),
        meter_start_wh=1000,
    )


def test_staff_session_page_shows_the_figures_so_far_a_chart_and_the_messages(admin_client, driver):
    connector = charging_site(price_per_kwh=Decimal("4"))
    session = running_session(connector, token_of(driver))
    meter_sample(session, "Energy.Active.Import.Register", "3500", "Wh", minutes_after_start=10)
    meter_sample(session, "Power.Active.Import", "7.2", "kW", minutes_after_start=10)

    page = admin_client.get(reverse("admin:stations_chargingsession_change", args=[session.pk]))

    html = page.content.decode()
    assert '<span data-figure="energy">2.500</span> kWh' in html
    assert '<span data-figure="power">7.200</span> kW' in html
    assert '<span data-figure="cost">12.50 SEK</span>' in html  # 2.5 kWh x 4 SEK + 25 % VAT
    started = timezone.localtime(session.started_at).strftime("%Y-%m-%d %H:%M:%S")
    assert started in html  # one time zone, to the second
    assert page.context["chart"]["energy"][-1][1] == 2.5
    assert page.context["chart"]["power"] == [
        [(session.started_at + timedelta(minutes=10)).isoformat(), 7.2]
    ]
    assert "chartjs/chart.bundle.min.js" in html
    frames = reverse("admin:stations_ocppmessage_changelist") + "?charge_point_id="
    assert frames in html

    figures = admin_client.get(
        reverse("admin:stations_chargingsession_figures", args=[session.pk])
    ).json()
    assert figures == {
        "running": True,
        "energy_kwh": "2.500",
        "power_kw": "7.200",
        "cost": "12.50",
        "currency": "SEK",
    }


def test_staff_session_page_of_a_paid_session_links_its_charge_and_receipt(admin_client, driver):
    charge = settled(driver, "wallet")
    page = admin_client.get(
        reverse("admin:stations_chargingsession_change", args=[charge.session_id])
    )
    html = page.content.decode()
    assert reverse("admin:billing_sessioncharge_change", args=[charge.pk]) in html
    assert reverse("admin:billing_invoice_change", args=[charge.document.pk]) in html
    assert charge.document.display_number in html


def test_a_card_charging_on_two_chargers_at_once_is_flagged(admin_client, driver):
    token = token_of(driver)
    first = running_session(charging_site(), token)
    second = running_session(charging_site(), token)
    alone = running_session(charging_site(), token_of(driver))

    listed = admin_client.get(reverse("admin:stations_chargingsession_changelist"))
    flagged = {row.pk: row.elsewhere for row in listed.context["cl"].result_list}
    assert flagged == {first.pk: True, second.pk: True, alone.pk: False}
