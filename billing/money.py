"""Money: the currency, the one rounding rule and how an amount is printed.

- Amounts are Decimal kronor (SEK) everywhere; floats are refused.
- The rounding rule: to whole öre, half up (1.005 -> 1.01). The price of a session
  (billing/pricing.py), a wallet entry, an amount sent to Stripe and a subscription's
  fee incl. VAT are all rounded by `round_to_ore`, once.
- Printed in the active language with its grouping: 1 234,50 SEK, 1,234.50 SEK, 12,50 €.
  The session page's script prints pushed amounts the same way (portal/static/portal/
  session.js, with CURRENCY_SIGNS).
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats
from django.utils.translation import gettext as _

# The currency prices, wallets and documents are kept in.
CURRENCY = "SEK"
ORE = Decimal("0.01")
# Printed instead of the ISO code; any other currency is printed by its code.
CURRENCY_SIGNS = {"EUR": "€"}
# A unit price (per kWh, per minute) is shown with up to this many decimals.
UNIT_PRICE_PLACES = 4


class MoneyError(ValueError):
    """Something that is not an amount of money; str() is for the user."""


def round_to_ore(amount: Decimal | int) -> Decimal:
    """The one rounding rule for money: to whole öre, half up (1.005 -> 1.01).

    Stripe takes SEK in öre and the ledger stores öre, so an amount computed to more
    decimals (a price per kWh times a meter reading) is rounded here, commercially, and
    not by whatever the database would do. Floats are refused: they cannot hold most
    amounts exactly.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(_("Money amounts must be Decimal, not %(type)s.") % {"type": type(amount)})
    amount = Decimal(amount)
    if not amount.is_finite():
        raise MoneyError(_("%(amount)s is not an amount of money.") % {"amount": amount})
    return amount.quantize(ORE, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal | int | str, *, unit_price: bool = False) -> str:
    """The number of an amount as printed in the active language: 2 decimals; a unit
    price that has more keeps UNIT_PRICE_PLACES (0,3125)."""
    try:
        amount = Decimal(amount)
    except InvalidOperation:
        return str(amount)
    if not amount.is_finite():
        return str(amount)
    places = UNIT_PRICE_PLACES if unit_price and amount != amount.quantize(ORE) else 2
    # Half up, as the amount is charged (number_format alone would round half even).
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return formats.number_format(amount, decimal_pos=places, use_l10n=True, force_grouping=True)


def format_money(
    amount: Decimal | int, currency: str = CURRENCY, *, unit_price: bool = False
) -> str:
    """An amount with its currency as printed in the active language: 1 234,50 SEK."""
    number = format_amount(amount, unit_price=unit_price)
    return f"{number}\u00a0{CURRENCY_SIGNS.get(currency, currency)}"


def format_number(value: Decimal | int | str, min_places: int = 0, max_places: int = 4) -> str:
    """A quantity, unit price or rate on a document: as many decimals as it has, within
    bounds (12,5 kWh; 3,1250 SEK/kWh with min_places=2)."""
    try:
        value = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    exponent = value.normalize().as_tuple().exponent
    places = min(max(-exponent if isinstance(exponent, int) else 0, min_places), max_places)
    return formats.number_format(value, decimal_pos=places, use_l10n=True, force_grouping=True)


def format_rate(rate: Decimal) -> str:
    """A VAT rate as printed: 25, 12,5."""
    return format_number(rate, 0, 2)
