from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from billing.models import WalletEntry
from billing.wallet import (
    InsufficientFunds,
    ReferenceConflict,
    WalletError,
    credit_wallet_manually,
    debit_wallet,
    refund_to_wallet,
    wallet_balance,
)
from tests.billing.conftest import in_threads


def test_new_wallet_is_empty(driver):
    assert wallet_balance(driver) == Decimal("0.00")


def test_balance_is_the_sum_of_the_ledger_entries(driver, staff):
    credit_wallet_manually(driver, Decimal("100"), staff=staff, reason="Cash at the desk")
    debit_wallet(driver, Decimal("30.50"), "session:1")
    refund_to_wallet(driver, Decimal("5.25"), "session:1")
    assert wallet_balance(driver) == Decimal("74.75")
    assert sorted(WalletEntry.objects.values_list("kind", "amount")) == [
        ("debit", Decimal("-30.50")),
        ("manual_credit", Decimal("100.00")),
        ("refund", Decimal("5.25")),
    ]


def test_wallets_of_different_drivers_are_kept_apart(make_user, staff):
    anna, bo = make_user(), make_user()
    credit_wallet_manually(anna, Decimal("50"), staff=staff, reason="Bank transfer")
    assert (wallet_balance(anna), wallet_balance(bo)) == (Decimal("50.00"), Decimal("0.00"))


def test_debit_with_a_reference_already_recorded_changes_nothing(driver, staff):
    credit_wallet_manually(driver, Decimal("100"), staff=staff, reason="Cash")
    first = debit_wallet(driver, Decimal("40"), "session:7")
    again = debit_wallet(driver, Decimal("40"), "session:7")
    assert again.pk == first.pk
    assert WalletEntry.objects.filter(kind="debit").count() == 1
    assert wallet_balance(driver) == Decimal("60.00")


def test_debit_refuses_to_take_the_wallet_below_zero(driver, staff):
    credit_wallet_manually(driver, Decimal("20"), staff=staff, reason="Cash")
    with pytest.raises(InsufficientFunds, match=r"20\.00 SEK"):
        debit_wallet(driver, Decimal("20.01"), "session:8")
    assert wallet_balance(driver) == Decimal("20.00")
    assert not WalletEntry.objects.filter(kind="debit").exists()


def test_debit_of_the_whole_balance_leaves_zero(driver, staff):
    credit_wallet_manually(driver, Decimal("20"), staff=staff, reason="Cash")
    debit_wallet(driver, Decimal("20.00"), "session:9")
    assert wallet_balance(driver) == Decimal("0.00")


def test_debit_may_overdraw_the_wallet_when_allowed(driver):
    debit_wallet(driver, Decimal("12.50"), "session:10", allow_negative=True)
    assert wallet_balance(driver) == Decimal("-12.50")


def test_reference_recorded_for_another_amount_is_a_conflict_not_a_second_debit(driver, staff):
    credit_wallet_manually(driver, Decimal("100"), staff=staff, reason="Cash")
    debit_wallet(driver, Decimal("10"), "session:11")
    with pytest.raises(ReferenceConflict):
        debit_wallet(driver, Decimal("15"), "session:11")
    assert wallet_balance(driver) == Decimal("90.00")


def test_reference_recorded_for_another_driver_is_a_conflict(make_user, staff):
    anna, bo = make_user(), make_user()
    debit_wallet(anna, Decimal("10"), "session:12", allow_negative=True)
    with pytest.raises(ReferenceConflict):
        debit_wallet(bo, Decimal("10"), "session:12", allow_negative=True)
    assert wallet_balance(bo) == Decimal("0.00")


def test_debit_and_refund_of_one_session_share_its_reference(driver):
    debit_wallet(driver, Decimal("10"), "session:13", allow_negative=True)
    refund_to_wallet(driver, Decimal("10"), "session:13")
    assert wallet_balance(driver) == Decimal("0.00")


def test_staff_credit_records_who_and_why(driver, staff):
    entry = credit_wallet_manually(
        driver, Decimal("250"), staff=staff, reason="  Bank transfer 2026-11-20  "
    )
    entry.refresh_from_db()
    assert entry.kind == WalletEntry.Kind.MANUAL_CREDIT
    assert entry.created_by == staff
    assert entry.note == "Bank transfer 2026-11-20"
    assert entry.reference.startswith("manual:")
    assert entry.created_at is not None and entry.created_at.utcoffset().total_seconds() == 0
    assert wallet_balance(driver) == Decimal("250.00")


def test_two_cash_credits_without_reference_are_two_credits(driver, staff):
    credit_wallet_manually(driver, Decimal("10"), staff=staff, reason="Cash")
    credit_wallet_manually(driver, Decimal("10"), staff=staff, reason="Cash")
    assert wallet_balance(driver) == Decimal("20.00")


def test_the_same_bank_transfer_is_credited_once(driver, staff):
    credit_wallet_manually(
        driver, Decimal("300"), staff=staff, reason="Bank transfer", reference="BG-4711"
    )
    credit_wallet_manually(
        driver, Decimal("300"), staff=staff, reason="Bank transfer", reference="BG-4711"
    )
    assert wallet_balance(driver) == Decimal("300.00")


def test_only_staff_can_credit_a_wallet(make_user, driver):
    someone = make_user()
    with pytest.raises(PermissionDenied):
        credit_wallet_manually(driver, Decimal("10"), staff=someone, reason="Cash")
    assert wallet_balance(driver) == Decimal("0.00")


def test_manual_credit_needs_a_reason(driver, staff):
    with pytest.raises(WalletError, match="why"):
        credit_wallet_manually(driver, Decimal("10"), staff=staff, reason="   ")
    assert not WalletEntry.objects.exists()


def test_manual_credits_work_without_stripe_keys(stripe_not_configured, driver, staff):
    credit_wallet_manually(driver, Decimal("99"), staff=staff, reason="Cash")
    debit_wallet(driver, Decimal("9"), "session:14")
    assert wallet_balance(driver) == Decimal("90.00")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("0.004")])
def test_amounts_that_are_not_positive_are_refused(driver, staff, amount):
    with pytest.raises(WalletError):
        credit_wallet_manually(driver, amount, staff=staff, reason="Cash")
    with pytest.raises(WalletError):
        debit_wallet(driver, amount, "session:15", allow_negative=True)
    assert not WalletEntry.objects.exists()


def test_float_amounts_are_refused(driver):
    with pytest.raises(TypeError):
        debit_wallet(driver, 10.1, "session:16", allow_negative=True)


def test_wallet_entries_round_to_ore_half_up(driver):
    debit_wallet(driver, Decimal("1.005"), "session:17", allow_negative=True)
    assert wallet_balance(driver) == Decimal("-1.01")


def test_database_refuses_a_positive_debit(driver):
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(user=driver, kind="debit", amount=Decimal("5"), reference="x")


def test_database_refuses_a_negative_credit(driver):
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(user=driver, kind="refund", amount=Decimal("-5"), reference="x")


def test_database_refuses_a_manual_credit_without_who_and_why(driver, staff):
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(
            user=driver, kind="manual_credit", amount=Decimal("5"), reference="a", note="Cash"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(
            user=driver, kind="manual_credit", amount=Decimal("5"), reference="b", created_by=staff
        )


def test_database_refuses_a_second_entry_of_one_kind_with_the_same_reference(driver):
    WalletEntry.objects.create(user=driver, kind="refund", amount=Decimal("5"), reference="r")
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(user=driver, kind="refund", amount=Decimal("5"), reference="r")


def test_two_debits_at_the_same_moment_cannot_spend_the_same_money(transactional_db, make_user):
    driver = make_user()
    staff = make_user(is_staff=True)
    credit_wallet_manually(driver, Decimal("100"), staff=staff, reason="Cash")
    results, errors = in_threads(
        2, lambda n: debit_wallet(driver, Decimal("60"), f"session:{21 + n}")
    )

    assert len(results) == 1
    assert [type(error) for error in errors.values()] == [InsufficientFunds]
    assert wallet_balance(driver) == Decimal("40.00")
