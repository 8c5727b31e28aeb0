"""billing/charges.py: the one owner of a SessionCharge's status. Every legal move, every
illegal one refused without changing the row, and two workers moving one charge at once:
one of them wins."""

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from billing import charges, invoicing
from billing.charges import IllegalTransition
from billing.models import BillingAccount, SessionCharge
from tests.billing.conftest import POSTGRESQL_ONLY, in_threads
from tests.billing.invoicing_data import MARCH, driver_account, paid, priced, utc

Status = SessionCharge.Status
Method = SessionCharge.Method


def charge_in(status: str, user, **fields) -> SessionCharge:
    fields.setdefault("method", Method.CARD)
    account = BillingAccount.objects.filter(user=user).first() or driver_account(user)
    return priced(
        account,
        stopped_at=utc(2026, 3, 14, 17, 20),
        net="40.00",
        vat="10.00",
        status=status,
        **fields,
    )


def as_stored(charge: SessionCharge) -> dict:
    return SessionCharge.objects.filter(pk=charge.pk).values().get()


# Each move with the statuses it is allowed from.
MOVES: dict[str, tuple[Callable[[SessionCharge], None], set[str]]] = {
    "mark_paid": (lambda c: charges.mark_paid(c, "pi_1"), {Status.PENDING, Status.FAILED}),
    "mark_failed": (lambda c: charges.mark_failed(c, "declined"), {Status.PENDING, Status.FAILED}),
    "give_up": (lambda c: charges.give_up(c, "not covered"), {Status.PENDING}),
    "settle_guest": (
        lambda c: charges.settle_guest(c, "pi_2", Decimal("50.00"), ""),
        {Status.PENDING},
    ),
}
ILLEGAL = [
    (name, status)
    for name, (_move, allowed) in MOVES.items()
    for status in Status.values
    if status not in allowed
]


@pytest.mark.django_db
@pytest.mark.parametrize("start", [Status.PENDING, Status.FAILED])
def test_a_pending_or_failed_charge_is_marked_paid_with_its_reference(driver, start):
    charge = charge_in(start, driver, failed_attempts=1, next_attempt_at=timezone.now())

    charges.mark_paid(charge, "pi_123")

    assert (charge.status, charge.payment_reference) == (Status.PAID, "pi_123")
    assert charge.paid_at is not None
    assert charge.next_attempt_at is None
    assert as_stored(charge)["status"] == Status.PAID


@pytest.mark.django_db
def test_a_declined_card_is_counted_and_tried_again_after_the_first_retry_interval(
    driver, settings
):
    settings.BILLING_PAYMENT_RETRY_HOURS = [24, 72]
    charge = charge_in(Status.PENDING, driver)
    before = timezone.now()

    charges.mark_failed(charge, "Your card was declined.")

    assert (charge.status, charge.failed_attempts) == (Status.FAILED, 1)
    assert charge.last_error == "Your card was declined."
    assert before + timedelta(hours=24) <= charge.next_attempt_at
    assert charge.next_attempt_at <= timezone.now() + timedelta(hours=24)


@pytest.mark.django_db
def test_after_the_last_retry_a_failed_charge_stays_failed_without_a_next_attempt(driver, settings):
    settings.BILLING_PAYMENT_RETRY_HOURS = [24, 72]
    charge = charge_in(Status.FAILED, driver, failed_attempts=2, next_attempt_at=timezone.now())

    charges.mark_failed(charge, "declined again")

    assert (charge.status, charge.failed_attempts, charge.next_attempt_at) == (
        Status.FAILED,
        3,
        None,
    )


@pytest.mark.django_db
def test_giving_up_leaves_the_charge_failed_for_staff_without_counting_an_attempt(driver):
    charge = charge_in(Status.PENDING, driver, method=Method.GUEST)

    charges.give_up(charge, "The hold does not cover this session.")

    assert (charge.status, charge.failed_attempts, charge.next_attempt_at) == (
        Status.FAILED,
        0,
        None,
    )
    assert charge.last_error == "The hold does not cover this session."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("captured", "note", "status"),
    [
        (Decimal("12.50"), "", Status.PAID),
        (Decimal(0), "", Status.NOTHING_DUE),
        (Decimal(0), "The authorisation expired: 12.50 SEK lost.", Status.FAILED),
    ],
)
def test_a_guest_capture_settles_the_charge(driver, captured, note, status):
    charge = charge_in(Status.PENDING, driver, method=Method.GUEST)

    charges.settle_guest(charge, "pi_guest", captured, note)

    assert (charge.status, charge.payment_reference, charge.last_error) == (
        status,
        "pi_guest",
        note,
    )
    assert (charge.paid_at is not None) == (status == Status.PAID)


@pytest.mark.django_db
def test_charges_waiting_for_the_month_are_marked_invoiced_on_its_invoice(driver):
    account = driver_account(driver)
    waiting = [
        priced(account, stopped_at=utc(2026, 3, day, 12), net="8.00", vat="2.00") for day in (3, 4)
    ]

    invoice = invoicing.issue_monthly_invoice(account, MARCH)

    for charge in waiting:
        assert as_stored(charge)["status"] == Status.INVOICED
        assert as_stored(charge)["document_id"] == invoice.pk


@pytest.mark.django_db
@pytest.mark.parametrize(("move", "start"), ILLEGAL)
def test_an_illegal_move_raises_and_changes_nothing(driver, move, start):
    charge = charge_in(start, driver)
    stored = as_stored(charge)

    with pytest.raises(IllegalTransition, match=f"session {charge.session_id}"):
        MOVES[move][0](charge)

    assert as_stored(charge) == stored


@pytest.mark.django_db
@pytest.mark.parametrize("start", [s for s in Status.values if s != Status.TO_INVOICE])
def test_only_charges_waiting_for_an_invoice_can_be_invoiced(driver, start):
    account = driver_account(driver)
    receipt = invoicing.issue_receipt(paid(account))
    waiting = priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    other = charge_in(start, driver)

    with pytest.raises(IllegalTransition), transaction.atomic():
        charges.mark_invoiced([waiting, other], receipt)

    # All or none: the one that could move did not.
    assert as_stored(waiting)["status"] == Status.TO_INVOICE
    assert as_stored(other)["status"] == start


@pytest.mark.django_db
def test_an_error_is_noted_only_on_a_charge_still_pending(driver):
    pending = charge_in(Status.PENDING, driver)
    settled = charge_in(Status.PAID, driver)

    assert charges.note_error(pending, "Stripe timed out") is True
    assert charges.note_error(settled, "Stripe timed out") is False

    assert as_stored(pending)["last_error"] == "Stripe timed out"
    assert as_stored(settled)["last_error"] == ""


# --- Two workers at once (PostgreSQL) ---


@POSTGRESQL_ONLY
def test_two_workers_marking_one_charge_paid_at_once_one_wins(transactional_db, make_user):
    charge = charge_in(Status.PENDING, make_user())

    both_read = threading.Barrier(2)

    def pay(index):
        mine = SessionCharge.objects.get(pk=charge.pk)
        both_read.wait(10)  # each read it as pending before either moves it
        charges.mark_paid(mine, f"pi_worker_{index}")
        return mine.payment_reference

    results, errors = in_threads(2, pay)

    assert len(results) == 1, errors
    assert [type(error) for error in errors.values()] == [IllegalTransition]
    [winner] = results.values()
    assert as_stored(charge)["payment_reference"] == winner


@POSTGRESQL_ONLY
def test_two_workers_failing_the_same_attempt_count_it_once(transactional_db, make_user):
    charge = charge_in(Status.PENDING, make_user())

    both_read = threading.Barrier(2)

    def fail(index):
        mine = SessionCharge.objects.get(pk=charge.pk)
        both_read.wait(10)
        charges.mark_failed(mine, f"declined {index}")

    results, errors = in_threads(2, fail)

    assert len(results) == 1, errors
    assert [type(error) for error in errors.values()] == [IllegalTransition]
    assert as_stored(charge)["failed_attempts"] == 1


@POSTGRESQL_ONLY
def test_a_guest_capture_and_a_give_up_at_once_leave_one_outcome(transactional_db, make_user):
    charge = charge_in(Status.PENDING, make_user(), method=Method.GUEST)

    both_read = threading.Barrier(2)

    def move(index):
        mine = SessionCharge.objects.get(pk=charge.pk)
        both_read.wait(10)
        if index == 0:
            charges.settle_guest(mine, "pi_guest", Decimal("50.00"), "")
        else:
            charges.give_up(mine, "not covered")
        return index

    results, errors = in_threads(2, move)

    assert len(results) == 1, errors
    [winner] = results.values()
    expected = Status.PAID if winner == 0 else Status.FAILED
    assert as_stored(charge)["status"] == expected
