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


@pytest.mark.parametrize("text, message", [
    ("10.005", "more than two decimal places"), ("-5.00", "negative"), ("NaN", "not a number"),
    ("abc", "not a number"), ("", "required"), ("0", "above zero"), ("Infinity", "not a number"),
    ("1e12", "not a number"), ("12,34", r"'12,34' is not a number; write it like 12\.34\."),
    ("1,5", r"write it like 1\.5\."), ("1,2345.00", "not a number"), ("12 34", "not a number"),
    ("\u0663", "not a number"), ("1\x00", "not a number"), (Decimal("NaN"), "finite"), (Decimal("1E+26"), "too large"),
    (10**30, "too large"), (1e30, "not a number"), (float("inf"), "not a number")])
def test_refuses_bad_amounts_with_a_clear_message(text, message):
    with pytest.raises(InvoiceDeskError, match=message):
        parse_money(text)


@given(st.integers(min_value=0, max_value=999_999_999))
def test_cents_round_trip_exactly(cents):
    amount = from_cents(cents)
    assert to_cents(amount) == cents
    assert parse_money(str(amount), allow_zero=True) == amount
    assert format_money(amount).replace("$", "").replace(",", "") == f"{amount:.2f}"


def test_a_float_is_read_through_its_shortest_text_not_its_binary_value():
    # Decimal(0.1) would be 0.1000000000000000055511151231257827...: more than two places, refused.
    assert parse_money(0.1) == Decimal("0.10")
    assert parse_money(19.99) == Decimal("19.99")


@pytest.mark.parametrize("value", [None, True, False, "   ", "$"])
def test_nothing_or_a_checkbox_is_not_an_amount(value):
    with pytest.raises(InvoiceDeskError, match="Paid is required and must be a number such as 125.00"):
        parse_money(value, field="Paid")


def test_the_message_names_the_field_and_shortens_a_long_entry():
    long = "x" * 60
    with pytest.raises(InvoiceDeskError) as caught:
        parse_money(long, field="Check amount")
    assert str(caught.value) == f"Check amount '{'x' * 37}...' is not a number; write it like 125.00."
    with pytest.raises(InvoiceDeskError) as caught:
        parse_money("x" * 40, field="Amount")
    assert str(caught.value) == f"Amount '{'x' * 40}' is not a number; write it like 125.00."


def test_an_amount_must_be_below_the_ceiling():
    assert parse_money("9,999,999.99") == Decimal("9999999.99")
    with pytest.raises(InvoiceDeskError, match=r"^Amount 10,000,000.00 is too large; one amount must be below "
                                               r"10,000,000.00\.$"):
        parse_money("10,000,000.00")


@pytest.mark.parametrize("text, expected", [("1,250.00", "1250.00"), ("$25.00", "25.00"), ("25", "25.00"),
                                            ("$ 1,000,000", "1000000.00"), (".5", "0.50")])
def test_accepts_what_a_manager_types(text, expected):
    assert parse_money(text) == Decimal(expected)


def test_zero_only_where_the_caller_allows_it():
    assert parse_money("0", allow_zero=True) == Decimal("0.00")
    assert str(parse_money("0", allow_zero=True)) == "0.00"
    with pytest.raises(InvoiceDeskError, match="^Amount must be above zero.$"):
        parse_money(Decimal("0.00"))
    with pytest.raises(InvoiceDeskError, match=r"^Amount cannot be negative \(-0.01\).$"):
        parse_money(Decimal("-0.01"), allow_zero=True)


def test_decimals_and_ints_keep_their_value_with_two_places():
    assert str(parse_money(Decimal("7.5"))) == "7.50"
    assert str(parse_money(3)) == "3.00"
    assert str(parse_money("$ 1,000")) == "1000.00"
    with pytest.raises(InvoiceDeskError, match=r"^Amount 1.005 has more than two decimal places"):
        parse_money(Decimal("1.005"))


def test_cents_conversions_refuse_fractions_and_read_missing_as_zero():
    assert to_cents(Decimal("12.34")) == 1234 and isinstance(to_cents(Decimal("12.34")), int)
    with pytest.raises(ValueError, match="not exact to the cent"):
        to_cents(Decimal("0.001"))
    assert from_cents(None) == Decimal("0.00") and str(from_cents(None)) == "0.00"
    assert str(from_cents(-250)) == "-2.50"


@pytest.mark.parametrize("amount, text", [("0", "$0.00"), ("1234.5", "$1,234.50"), ("-12", "-$12.00"),
                                          ("-0.01", "-$0.01"), ("1000000", "$1,000,000.00")])
def test_money_is_written_one_way(amount, text):
    assert format_money(Decimal(amount)) == text


# ---- dates a manager typed ---------------------------------------------------------------------------------

def test_dates_from_text_dates_and_datetimes():
    from datetime import date, datetime

    from core.dates import to_date

    assert to_date("2026-02-28", "Sent") == date(2026, 2, 28)
    assert to_date(datetime(2026, 3, 1, 23, 59), "Sent") == date(2026, 3, 1)
    assert to_date(date(2026, 3, 2), "Sent") == date(2026, 3, 2)
    assert to_date("", "Sent") is None and to_date(None, "Sent") is None
    with pytest.raises(InvoiceDeskError, match="^From is required.$"):
        to_date("", "From", required=True)
    with pytest.raises(InvoiceDeskError, match="^From is required.$"):
        to_date(None, "From", required=True)
    with pytest.raises(InvoiceDeskError, match=r"^From '2026-02-30' is not a date; write it like 2026-12-31 or "
                                               r"12/31/2026\.$"):
        to_date("2026-02-30", "From")
    # The US form date pickers and spreadsheets write; never 31/12/2026 read as the year 3112.
    assert to_date("12/31/2026", "Sent") == date(2026, 12, 31) == to_date("2026-12-31", "Sent")
    for typed in ("31/12/2026", 20260101, "2026-W01-1", "20260101", "\u0662\u0660\u0662\u0666-01-01", "2026-01-01\x00"):
        with pytest.raises(InvoiceDeskError, match="is not a date; write it like 2026-12-31"):
            to_date(typed, "Received date")
    with pytest.raises(InvoiceDeskError, match="^Received date 0001-01-01 is not a plausible date; use a year from "
                                               "1900 to 2999.$"):
        to_date(date(1, 1, 1), "Received date")


def test_an_entry_of_forty_one_characters_is_shortened():
    with pytest.raises(InvoiceDeskError) as caught:
        parse_money("y" * 41)
    assert str(caught.value) == f"Amount '{'y' * 37}...' is not a number; write it like 125.00."
