"""CSV exports a spreadsheet can open safely: money exact, dates ISO, formula-looking text defused."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

from core.errors import InvoiceDeskError

# A cell a spreadsheet would read as a formula (or a DDE call) starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers.

    Spreadsheets skip leading blanks (spaces, no-break spaces, line breaks) before reading a formula, so the
    test is on the first character that is not one.
    """
    if isinstance(value, str) and (value.startswith(_FORMULA_STARTS) or value.lstrip().startswith(_FORMULA_STARTS)):
        return "'" + value
    return value


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return defuse(value)


def csv_bytes(rows: Iterable[Mapping[str, object]]) -> bytes:
    """Rows of one shape (the keys of the first row are the header) as UTF-8 CSV with a BOM for Excel."""
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
        raise InvoiceDeskError(f"Rows must be a list of rows (one mapping of column to value each), not "
                               f"{type(rows).__name__}.")
    rows = list(rows)
    if not all(isinstance(row, Mapping) for row in rows):
        raise InvoiceDeskError("Each row must map column names to values, such as {'Invoice': 'INV-000001'}.")
    out = io.StringIO()
    if rows:
        writer = csv.writer(out, lineterminator="\r\n")
        header = list(rows[0])
        writer.writerow([defuse(h) for h in header])
        for row in rows:
            writer.writerow([_cell(row.get(h)) for h in header])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
