"""Money parsing: exact to the cent, refusing what a manager should fix."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import InvoiceDeskError, format_money, parse_money
from core.money import from_cents, to_cents


@pytest.mark.parametrize("text, expected", [("10.50", "10.50"), ("10.5", "10.50"), ("1,234.00", "1234.00"),
                                            ("$7", "7.00"), (" 0.01 ", "0.01"), (12, "12.00")])
def test_accepts_plain_amounts(text, expected):
    assert parse_money(text) == Decimal(expected)


@pytest.mark.parametrize("text, message", [("10.005", "more than two decimal places"), ("-5.00", "negative"),
                                           ("NaN", "finite"), ("abc", "not a number"), ("", "required"),
                                           ("0", "above zero"), ("Infinity", "finite"), ("1e12", "larger than")])
def test_refuses_bad_amounts_with_a_clear_message(text, message):
    with pytest.raises(InvoiceDeskError, match=message):
        parse_money(text)


@given(st.integers(min_value=0, max_value=10**10))
def test_cents_round_trip_exactly(cents):
    amount = from_cents(cents)
    assert to_cents(amount) == cents
    assert parse_money(str(amount), allow_zero=True) == amount
    assert format_money(amount).replace("$", "").replace(",", "") == f"{amount:.2f}"
