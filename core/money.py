"""Exact money: Decimal in Python, integer cents in the database."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.errors import InvoiceDeskError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Largest amount accepted for one value: far above any invoice, far below BIGINT.
MAX_AMOUNT = Decimal("100000000.00")


# What a caller may pass as an amount: a Decimal, whole dollars, or text as a manager types it ("1,250.00").
MoneyInput = Decimal | int | str


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
        text = str(value).strip().replace(",", "")
        if text.startswith("$"):
            text = text[1:].strip()
        if not text:
            raise InvoiceDeskError(f"{field} is required and must be a number such as 125.00.")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise InvoiceDeskError(f"{field} '{_short(value)}' is not a number; write it like 125.00.") from None
    if not amount.is_finite():
        raise InvoiceDeskError(f"{field} must be a finite number, not {amount}.")
    if amount < 0:
        raise InvoiceDeskError(f"{field} cannot be negative ({amount}).")
    if amount == 0 and not allow_zero:
        raise InvoiceDeskError(f"{field} must be above zero.")
    if amount != amount.quantize(CENT, rounding="ROUND_DOWN"):
        raise InvoiceDeskError(f"{field} {amount} has more than two decimal places; amounts are to the cent.")
    if amount > MAX_AMOUNT:
        raise InvoiceDeskError(f"{field} {amount} is larger than the largest amount accepted ({MAX_AMOUNT}).")
    return amount.quantize(CENT)


def to_cents(amount: Decimal) -> int:
    """Decimal dollars to integer cents; the amount must already be exact to the cent."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} is not exact to the cent")
    return int(cents)


def from_cents(cents: int | None) -> Decimal:
    """Integer cents from the database to Decimal dollars with two places."""
    return (Decimal(int(cents or 0)) / 100).quantize(CENT)


def format_money(amount: Decimal) -> str:
    """$1,234.50 and -$12.00: the one way money is written on pages, PDFs and exports."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
