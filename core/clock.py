"""The current time and date, in one place so demo data can be written as of an earlier day."""

from datetime import UTC, date, datetime


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return date.today()
