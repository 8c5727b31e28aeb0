"""billing/money.py: the one rounding rule (whole öre, half up) and how amounts are
printed, the same on documents, portal pages, guest pages and emails."""

from decimal import Decimal

import pytest
from django.utils import translation

from billing import payments
from billing.money import format_amount, format_money, format_rate, round_to_ore
from billing.wallet import WalletError, positive_amount


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        (Decimal("10.005"), Decimal("10.01")),
        (Decimal("10.004999"), Decimal("10.00")),
        (Decimal("0.015"), Decimal("0.02")),
        (Decimal("-1.005"), Decimal("-1.01")),
        (Decimal("7"), Decimal("7.00")),
        (12, Decimal("12.00")),
    ],
)
def test_amounts_are_rounded_to_whole_ore_half_up(amount, rounded):
    assert round_to_ore(amount) == rounded


def test_floats_are_refused_as_money():
    with pytest.raises(TypeError):
        round_to_ore(10.1)


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity")])
def test_a_wallet_amount_that_is_not_a_number_is_a_wallet_error(amount):
    with pytest.raises(WalletError, match="not an amount of money"):
        positive_amount(amount)


def test_stripe_amounts_and_wallet_entries_round_a_half_ore_alike():
    assert payments.to_minor_units(Decimal("1.005")) == 101
    assert positive_amount(Decimal("1.005")) == Decimal("1.01")


@pytest.mark.parametrize(
    ("language", "amount", "currency", "printed"),
    [
        ("en", Decimal("1234.5"), "SEK", "1,234.50\u00a0SEK"),
        ("sv", Decimal("1234.5"), "SEK", "1\u00a0234,50\u00a0SEK"),
        ("en", Decimal("12.5"), "EUR", "12.50\u00a0€"),
        ("sv", Decimal("-0.5"), "SEK", "-0,50\u00a0SEK"),
    ],
)
def test_money_is_printed_in_the_active_language_with_its_currency(
    language, amount, currency, printed
):
    with translation.override(language):
        assert format_money(amount, currency) == printed


def test_printed_amounts_round_half_up_as_charged_and_unit_prices_keep_four_decimals():
    with translation.override("sv"):
        assert format_amount(Decimal("3.1250"), unit_price=True) == "3,1250"
        assert format_amount(Decimal("3.10"), unit_price=True) == "3,10"
        assert format_amount(Decimal("3.1250")) == "3,13"
        assert format_rate(Decimal("12.50")) == "12,5"
        assert format_rate(Decimal("25.00")) == "25"
