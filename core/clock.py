"""The current moment and the practice's "today": one clock, read in the practice's time zone.

Every default date, every "in the future" check, every age and every page reads the day from here,
so a practice in Honolulu and a server in UTC agree on what today is. Tests freeze this clock (with
time-machine) instead of reading the real one.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The Setting row that names the practice's time zone; no row means the server's own zone.
ZONE_SETTING = "time_zone"
_SESSION_KEY = "invoice_desk_zone"


def now() -> datetime:
    """This moment, in UTC (what is stored in created_at columns)."""
    return datetime.now(UTC)


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone of that name ('America/Chicago'), or None when there is no such zone."""
    name = (name or "").strip()
    if not name or name not in valid_zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_ZONES: frozenset[str] | None = None


def valid_zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def server_zone() -> tzinfo:
    """The server's zone: TZ when it names a zone, else the operating system's local zone."""
    found = zone_named(os.environ.get("TZ", "").lstrip(":"))
    if found is not None:
        return found
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else UTC


def server_zone_name() -> str:
    zone = server_zone()
    return getattr(zone, "key", None) or zone.tzname(datetime.now()) or "UTC"


def zone(session=None) -> tzinfo:
    """The practice's zone: Settings > Time zone, else the server's. Read once per session."""
    if session is None:
        return server_zone()
    cached = session.info.get(_SESSION_KEY)
    if cached is None:
        import sqlalchemy as sa

        from core.models import Setting  # the models import money, not the clock; keep the clock import-light

        # A plain read of one value (not an ORM object): it is on every report's path (issue 16).
        t = Setting.__table__
        value = session.execute(sa.select(t.c.value).where(t.c.key == ZONE_SETTING)).scalar()
        cached = (zone_named(value) if value is not None else None) or server_zone()
        session.info[_SESSION_KEY] = cached
    return cached


def forget_zone(session) -> None:
    """After the time zone setting changes, the next read in this session looks again."""
    session.info.pop(_SESSION_KEY, None)


def today(session=None) -> date:
    """The practice's today: the date on the wall of the billing office."""
    return now().astimezone(zone(session)).date()


def day_of(moment: datetime, session=None) -> date:
    """The practice's date of a stored moment (naive moments are UTC, as they are stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(session)).date()


def day_start(day: date, session=None) -> datetime:
    """The first moment of a practice's day, in UTC, for filtering stored moments by day."""
    return datetime.combine(day, time(), tzinfo=zone(session)).astimezone(UTC)


def day_after_start(day: date, session=None) -> datetime:
    """The first moment after a practice's day, in UTC: `moment < day_after_start(d)` includes all of d."""
    return day_start(day + timedelta(days=1), session)
