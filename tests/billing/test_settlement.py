"""billing/settlement.py: a finished session is priced once, frozen, and paid once, by
the payer's method; declined cards are retried on a schedule."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import stripe
from django.contrib.auth.models import Group
from django.utils import timezone

from billing import invoicing, settlement
from billing.models import BillingAccount, CustomerGroup, Invoice, SessionCharge, WalletEntry
from billing.payments import ensure_customer
from billing.wallet import credit_wallet_manually, wallet_balance
from stations.authorization import id_tag_info
from stations.models import ChargingSession
from tests.billing.conftest import SECRET_KEY, saved_card
from tests.billing.sessions import charging_site, finished_session, token_of
from users.roles import FINANCE

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)  # a Tuesday, 09:00 in Stockholm
Status = SessionCharge.Status


def account(user, method, **fields) -> BillingAccount:
    return BillingAccount.objects.create(user=user, payment_method=method, **fields)


@pytest.fixture
def connector():
    return charging_site()  # 1 SEK per kWh net, 25 % VAT


def test_wallet_session_is_debited_once_and_gets_an_emailed_receipt(
    connector, driver, staff, mailoutbox, django_capture_on_commit_callbacks
):
    account(driver, BillingAccount.PaymentMethod.WALLET)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=10_000)

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = settlement.settle_session(session.pk)
        settlement.settle_session(session.pk)  # a retried task

    charge.refresh_from_db()
    assert (charge.status, charge.method) == (Status.PAID, SessionCharge.Method.WALLET)
    assert (charge.net, charge.vat, charge.gross) == (
        Decimal("10.00"),
        Decimal("2.50"),
        Decimal("12.50"),
    )
    assert charge.energy_kwh == Decimal("10.000")
    assert wallet_balance(driver) == Decimal("87.50")
    assert WalletEntry.objects.filter(kind=WalletEntry.Kind.DEBIT).count() == 1
    receipt = charge.document
    assert receipt.kind == Invoice.Kind.RECEIPT
    assert receipt.gross == Decimal("12.50")
    assert receipt.payment_reference.startswith("wallet:")
    assert [message.to for message in mailoutbox] == [[driver.email]]


def test_wallet_is_debited_even_below_zero_for_energy_already_delivered(connector, driver):
    account(driver, BillingAccount.PaymentMethod.WALLET)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=8_000)

    charge = settlement.settle_session(session.pk)

    assert charge.status == Status.PAID
    assert wallet_balance(driver) == Decimal("-10.00")


def test_price_is_frozen_when_the_session_ends_and_a_later_tariff_edit_changes_nothing(
    connector, driver
):
    account(driver, BillingAccount.PaymentMethod.INVOICE)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=10_000)
    charge = settlement.settle_session(session.pk)

    tariff = charge.tariff
    tariff.price_per_kwh = Decimal(5)
    tariff.save()
    again = settlement.settle_session(session.pk)

    assert again.pk == charge.pk
    again.refresh_from_db()
    assert again.gross == Decimal("12.50")
    assert again.tariff_name == tariff.name
    assert [line["kind"] for line in again.lines] == ["energy"]
    assert again.lines[0]["unit_price"] == "1.0000"
    assert again.lines[0]["quantity"] == "10.000"


def test_postpaid_session_waits_for_the_monthly_invoice(
    connector, driver, mailoutbox, django_capture_on_commit_callbacks
):
    account(driver, BillingAccount.PaymentMethod.INVOICE)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=4_000)

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = settlement.settle_session(session.pk)

    assert (charge.method, charge.status) == (SessionCharge.Method.INVOICE, Status.TO_INVOICE)
    assert charge.document is None
    assert mailoutbox == []


def test_new_driver_pays_by_the_default_method_postpaid(connector, driver, settings):
    settings.BILLING_DEFAULT_PAYMENT_METHOD = "invoice"
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=4_000)

    charge = settlement.settle_session(session.pk)

    assert charge.account == BillingAccount.objects.get(user=driver)
    assert charge.status == Status.TO_INVOICE


def test_fleet_member_session_is_billed_to_the_fleet(connector, make_user):
    fleet = CustomerGroup.objects.create(name="Taxi Göteborg", kind=CustomerGroup.Kind.FLEET)
    company = BillingAccount.objects.create(
        fleet=fleet, payment_method=BillingAccount.PaymentMethod.INVOICE, name="Taxi Göteborg AB"
    )
    member = make_user()
    fleet.members.add(member)
    session = finished_session(connector, token_of(member), started_at=STARTED, wh=4_000)

    charge = settlement.settle_session(session.pk)

    assert charge.account == company
    assert charge.status == Status.TO_INVOICE
    assert not BillingAccount.objects.filter(user=member).exists()


def test_session_without_a_tariff_owes_nothing_and_says_why(driver):
    connector = charging_site()
    connector.charge_point.site.tariff_assignments.all().delete()
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=4_000)

    charge = settlement.settle_session(session.pk)

    assert charge.status == Status.NOTHING_DUE
    assert charge.gross == 0
    assert "No tariff" in charge.last_error


def test_session_that_delivered_nothing_costs_nothing(
    connector, driver, mailoutbox, django_capture_on_commit_callbacks
):
    account(driver, BillingAccount.PaymentMethod.WALLET)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=0)

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = settlement.settle_session(session.pk)

    assert charge.status == Status.NOTHING_DUE
    assert WalletEntry.objects.count() == 0
    assert mailoutbox == []


def test_tag_without_an_owner_is_kept_as_nothing_due_with_the_reason(connector):
    session = finished_session(connector, token_of(None), started_at=STARTED, wh=4_000)

    charge = settlement.settle_session(session.pk)

    assert (charge.status, charge.account) == (Status.NOTHING_DUE, None)
    assert charge.gross == Decimal("5.00")  # priced all the same, for staff to see
    assert "no owner" in charge.last_error


def test_running_session_is_not_settled(connector, driver):
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=4_000)
    ChargingSession.objects.filter(pk=session.pk).update(
        status=ChargingSession.Status.ACTIVE, stopped_at=None, meter_stop_wh=None
    )

    assert settlement.settle_session(session.pk) is None
    assert settlement.settle_session(999_999) is None
    assert not SessionCharge.objects.exists()


def test_missed_sessions_and_stuck_payments_are_caught_up(connector, driver, staff):
    account(driver, BillingAccount.PaymentMethod.WALLET)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    token = token_of(driver)
    recent = timezone.now() - timedelta(minutes=62)
    missed = finished_session(connector, token, started_at=recent - timedelta(hours=2), wh=1_000)
    just_ended = finished_session(connector, token, started_at=recent, wh=1_000, minutes=61)
    stuck = settlement.freeze_price(
        finished_session(connector, token, started_at=STARTED, wh=2_000).pk
    )
    SessionCharge.objects.filter(pk=stuck.pk).update(priced_at=recent)

    assert settlement.settle_missed_sessions() == 1

    assert SessionCharge.objects.get(session=missed).status == Status.PAID
    assert not SessionCharge.objects.filter(session=just_ended).exists()  # its task may run
    assert SessionCharge.objects.get(pk=stuck.pk).status == Status.PAID
    assert wallet_balance(driver) == Decimal("96.25")


# --- Card on file ---------------------------------------------------------------------


def intents_of(driver) -> list:
    customer = ensure_customer(driver)
    intents = stripe.PaymentIntent.list(api_key=SECRET_KEY, limit=100).auto_paging_iter()
    return [intent for intent in intents if intent.customer == customer.id]


def test_card_session_is_charged_off_session_once_and_gets_a_receipt(
    stripe_configured, connector, driver, mailoutbox, django_capture_on_commit_callbacks
):
    account(driver, BillingAccount.PaymentMethod.CARD)
    saved_card(driver)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=20_000)

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = settlement.settle_session(session.pk)
        settlement.settle_session(session.pk)

    charge.refresh_from_db()
    assert charge.status == Status.PAID
    intents = intents_of(driver)
    assert [(intent.amount, intent.status) for intent in intents] == [(2500, "succeeded")]
    assert charge.payment_reference == intents[0].id
    assert charge.document.payment_reference == intents[0].id
    assert len(mailoutbox) == 1


def test_declined_card_is_retried_on_schedule_the_driver_told_and_blocked_after_the_limit(
    stripe_configured,
    connector,
    driver,
    mailoutbox,
    settings,
    django_capture_on_commit_callbacks,
    make_user,
):
    settings.BILLING_PAYMENT_RETRY_HOURS = [24, 72]
    settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS = 2
    finance = make_user(is_staff=True, language="en")
    finance.groups.add(Group.objects.get_or_create(name=FINANCE.name)[0])
    account(driver, BillingAccount.PaymentMethod.CARD)
    saved_card(driver, "pm_card_chargeCustomerFail")
    token = token_of(driver)
    session = finished_session(connector, token, started_at=STARTED, wh=20_000)

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = settlement.settle_session(session.pk)
    charge.refresh_from_db()
    assert (charge.status, charge.failed_attempts) == (Status.FAILED, 1)
    assert before + timedelta(hours=24) <= charge.next_attempt_at
    assert charge.next_attempt_at <= timezone.now() + timedelta(hours=24)
    assert "declined" in charge.last_error.lower()
    assert [message.to for message in mailoutbox] == [[driver.email]]
    assert "Vi kunde inte debitera ditt kort" in mailoutbox[0].body  # the driver's Swedish
    assert id_tag_info(token.uid, timezone.now())["status"] == "Accepted"

    # Not due yet: nothing happens.
    assert settlement.retry_failed_payments() == 0
    # Due: the second attempt fails too, and the driver's tokens are refused; finance
    # staff hear of the blocked payer once.
    with django_capture_on_commit_callbacks(execute=True):
        assert settlement.retry_failed_payments(now=charge.next_attempt_at) == 1
    charge.refresh_from_db()
    assert (charge.status, charge.failed_attempts) == (Status.FAILED, 2)
    assert sorted(message.to[0] for message in mailoutbox[1:]) == sorted(
        [driver.email, finance.email]
    )
    [staff_mail] = [message for message in mailoutbox if message.to == [finance.email]]
    assert "is blocked" in staff_mail.subject and "2 failed card payments" in staff_mail.body
    assert id_tag_info(token.uid, timezone.now())["status"] == "Blocked"

    # A working card; the third attempt pays, and the driver may charge again.
    saved_card(driver, "pm_card_visa")
    assert settlement.retry_failed_payments(now=charge.next_attempt_at) == 1
    charge.refresh_from_db()
    assert charge.status == Status.PAID
    assert charge.document is not None
    assert id_tag_info(token.uid, timezone.now())["status"] == "Accepted"
    statuses = sorted(intent.status for intent in intents_of(driver))
    assert statuses.count("succeeded") == 1


def test_after_the_last_retry_the_charge_stays_failed_for_staff(
    stripe_configured, connector, driver, settings
):
    settings.BILLING_PAYMENT_RETRY_HOURS = [1]
    account(driver, BillingAccount.PaymentMethod.CARD)
    saved_card(driver, "pm_card_chargeCustomerFail")
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=20_000)
    charge = settlement.settle_session(session.pk)
    charge.refresh_from_db()

    settlement.retry_failed_payments(now=charge.next_attempt_at)

    charge.refresh_from_db()
    assert (charge.status, charge.failed_attempts, charge.next_attempt_at) == (
        Status.FAILED,
        2,
        None,
    )
    assert settlement.retry_failed_payments(now=timezone.now() + timedelta(days=365)) == 0


def test_card_payer_without_stripe_configured_fails_with_the_reason(
    stripe_not_configured, connector, driver
):
    account(driver, BillingAccount.PaymentMethod.CARD)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=20_000)

    charge = settlement.settle_session(session.pk)

    charge.refresh_from_db()
    assert charge.status == Status.FAILED
    assert "not configured" in charge.last_error


def test_card_amount_below_stripes_minimum_goes_on_the_monthly_invoice(
    stripe_configured, connector, driver
):
    account(driver, BillingAccount.PaymentMethod.CARD)
    saved_card(driver)
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=2_000)

    charge = settlement.settle_session(session.pk)

    assert charge.gross == Decimal("2.50")
    assert (charge.method, charge.status) == (SessionCharge.Method.INVOICE, Status.TO_INVOICE)


# --- Monthly invoices paid by card -----------------------------------------------------


def monthly_invoice(driver, **account_fields) -> Invoice:
    account(driver, BillingAccount.PaymentMethod.INVOICE, **account_fields)
    connector = charging_site()
    session = finished_session(connector, token_of(driver), started_at=STARTED, wh=20_000)
    settlement.settle_session(session.pk)
    return invoicing.issue_monthly_invoice(
        BillingAccount.objects.get(user=driver), date(2026, 3, 1)
    )


def test_monthly_invoice_is_charged_to_the_card_once_when_the_account_asks(
    stripe_configured, driver
):
    saved_card(driver)
    invoice = monthly_invoice(driver, charge_invoices_to_card=True)

    assert invoicing.charge_invoice_to_card(invoice)
    assert not invoicing.charge_invoice_to_card(Invoice.objects.get(pk=invoice.pk))

    invoice.refresh_from_db()
    assert invoice.paid_at is not None
    intents = intents_of(driver)
    assert [(intent.id, intent.amount) for intent in intents] == [(invoice.payment_reference, 2500)]


def test_monthly_invoice_stays_open_when_the_card_is_declined_or_not_asked_for(
    stripe_configured, driver, make_user
):
    saved_card(driver, "pm_card_chargeCustomerFail")
    declined = monthly_invoice(driver, charge_invoices_to_card=True)
    other = make_user()
    saved_card(other)
    not_asked = monthly_invoice(other)

    assert not invoicing.charge_invoice_to_card(declined)
    assert not invoicing.charge_invoice_to_card(not_asked)

    assert Invoice.objects.filter(paid_at__isnull=True).count() == 2
    assert intents_of(other) == []
