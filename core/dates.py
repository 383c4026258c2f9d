"""Reading dates a manager typed or a caller passed: a date, a datetime, or 2026-12-31 / 12/31/2026 text."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal, overload

from core.errors import InvoiceDeskError

# ASCII digits only ("2026" in other scripts is not a date here); the day is checked by date() itself.
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_US = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
# Days outside these are typing mistakes, and date arithmetic near year 1 or 9999 would overflow.
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)

# What a caller may pass as a day: a date (a datetime counts by its date) or YYYY-MM-DD text.
DateInput = date | datetime | str


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
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            shown = str(value).replace("\x00", "")
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise InvoiceDeskError(f"{label} '{shown}' is not a date; write it like 2026-12-31 or 12/31/2026.")
        day = parsed
    if not EARLIEST <= day <= LATEST:
        raise InvoiceDeskError(f"{label} {day} is not a plausible date; use a year from {EARLIEST.year} to "
                               f"{LATEST.year}.")
    return day


def parse_date(text: str) -> date | None:
    """ISO 2026-12-31 or the US 12/31/2026 (what date pickers and spreadsheets write); None for anything else."""
    text = text.strip()
    iso, us = _ISO.fullmatch(text), _US.fullmatch(text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if us:
            return date(int(us[3]), int(us[1]), int(us[2]))
    except ValueError:  # 2026-02-30, 13/01/2026
        return None
    return None
