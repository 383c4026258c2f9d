"""Reading dates a manager typed or a caller passed: a date, a datetime, or YYYY-MM-DD text."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, overload

from core.errors import InvoiceDeskError

# What a caller may pass as a day: a date (a datetime counts by its date) or YYYY-MM-DD text.
DateInput = date | str


@overload
def to_date(value: object, label: str, *, required: Literal[True]) -> date: ...
@overload
def to_date(value: object, label: str, *, required: bool = False) -> date | None: ...


def to_date(value: object, label: str, *, required: bool = False) -> date | None:
    if value is None or value == "":
        if required:
            raise InvoiceDeskError(f"{label} is required.")
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvoiceDeskError(f"{label} '{value}' is not a date; use YYYY-MM-DD.") from None
