"""Exact money: Decimal in Python, integer cents in the database."""

from __future__ import annotations

import re
from decimal import Decimal

from core.errors import InvoiceDeskError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# One amount must be below this: far above any occupational-medicine invoice or check, far below BIGINT.
MAX_AMOUNT = Decimal("10000000.00")
# What a manager may type: 25, 25.5, 1250.00, 1,250.00 (commas only between thousands), with a $ in front.
_AMOUNT = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|-?\.[0-9]+")
_DECIMAL_COMMA = re.compile(r"-?[0-9]+,[0-9]{1,2}")


# What a caller may pass as an amount: a Decimal, whole dollars, or text as a manager types it ("1,250.00").
MoneyInput = Decimal | int | float | str


def parse_money(value: object, *, field: str = "Amount", allow_zero: bool = False) -> Decimal:
    """Read a user's amount exactly; refuse what is not a plain non-negative amount to the cent."""
    if isinstance(value, bool) or value is None:
        raise InvoiceDeskError(f"{field} is required and must be a number such as 125.00.")
    if isinstance(value, float):
        # A float has already lost exactness; go through its shortest text form.
        value = repr(value)
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    else:
        shown = str(value).strip()
        text = shown[1:].strip() if shown.startswith("$") else shown
        if not text:
            raise InvoiceDeskError(f"{field} is required and must be a number such as 125.00.")
        if not _AMOUNT.fullmatch(text):
            # 12,34 is a European 12.34, not 1,234: a comma is refused unless it separates thousands.
            hint = text.replace(",", ".") if _DECIMAL_COMMA.fullmatch(text) else "125.00"
            raise InvoiceDeskError(f"{field} '{_short(shown)}' is not a number; write it like {hint}.")
        amount = Decimal(text.replace(",", ""))
    if not amount.is_finite():
        raise InvoiceDeskError(f"{field} must be a finite number, not {amount}.")
    if amount < 0:
        raise InvoiceDeskError(f"{field} cannot be negative ({amount}).")
    if amount == 0 and not allow_zero:
        raise InvoiceDeskError(f"{field} must be above zero.")
    if amount >= MAX_AMOUNT:  # before quantize, which cannot hold 1E+26 to the cent
        raise InvoiceDeskError(f"{field} {_short(value)} is too large; one amount must be below {MAX_AMOUNT:,.2f}.")
    if amount != amount.quantize(CENT, rounding="ROUND_DOWN"):
        raise InvoiceDeskError(f"{field} {amount} has more than two decimal places; amounts are to the cent.")
    return amount.quantize(CENT)


def to_cents(amount: Decimal) -> int:
    """Decimal dollars to integer cents; the amount must already be exact to the cent."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} is not exact to the cent")
    return int(cents)


_ZERO = Decimal("0.00")


def from_cents(cents: int | None) -> Decimal:
    """Integer cents from the database to Decimal dollars with two places."""
    return Decimal(int(cents)).scaleb(-2) if cents else _ZERO  # exact: the same digits, the point two places left


def format_money(amount: Decimal) -> str:
    """$1,234.50 and -$12.00: the one way money is written on pages, PDFs and exports."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int) or not Decimal(amount).is_finite():
        raise InvoiceDeskError(f"{_short(repr(amount))} is not an amount of money; pass a Decimal such as "
                               "Decimal('125.00').")
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def _short(value: object) -> str:
    text = str(value).replace("\x00", "")
    return text if len(text) <= 40 else text[:37] + "..."
