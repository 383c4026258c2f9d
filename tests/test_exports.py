"""CSV exports: exact money, ISO dates, and text a spreadsheet would run as a formula defused."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import csv_bytes


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_formula_cells_are_defused_and_money_stays_exact():
    rows = [{"Party": "=HYPERLINK(\"http://x\",\"pay\")", "Note": "@SUM(A1)", "Ref": "+1", "Dash": "-2-3",
             "Plain": "Acme", "Balance": Decimal("-12.50"), "Billed": Decimal("1234.5"), "Sent": date(2026, 3, 4)}]
    header, values = _read(csv_bytes(rows))
    assert header == list(rows[0])
    assert values == ["'=HYPERLINK(\"http://x\",\"pay\")", "'@SUM(A1)", "'+1", "'-2-3", "Acme", "-12.50",
                      "1234.50", "2026-03-04"]


@pytest.mark.parametrize("text", [" =1+1", "\xa0=1+1", "\n=1+1", "  @SUM(A1)", "\u3000+1", " \t-2"])
def test_blanks_before_a_formula_do_not_hide_it(text):
    _, (value,) = _read(csv_bytes([{"Name": text}]))
    assert value == "'" + text


@given(st.text(max_size=40))
def test_any_text_comes_back_whole_and_never_as_a_formula(text):
    header, (value,) = _read(csv_bytes([{"Name": text}]))
    assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert not value.lstrip().startswith(("=", "+", "-", "@", "\t", "\r")) or value.startswith("'")
    assert value in (text, "'" + text)


def test_the_exact_bytes_a_spreadsheet_opens():
    from datetime import datetime

    rows = [{"When": datetime(2026, 3, 1, 9, 5, 7, 123456), "Missing": None, "Count": 3},
            {"When": datetime(2026, 3, 2, 0, 0), "Missing": "x", "Count": 0}]
    assert csv_bytes(rows) == ("\ufeffWhen,Missing,Count\r\n2026-03-01 09:05:07,,3\r\n2026-03-02 00:00:00,x,0\r\n"
                               ).encode("utf-8")
    assert csv_bytes([]) == "\ufeff".encode("utf-8")
