"""One "today" for the practice: Settings > Time zone decides the day of every default, check and batch."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from core import (
    audit_log,
    clock,
    create_on_demand_batch,
    list_batches,
    post_receipt,
    set_time_zone,
    time_zone_name,
)
from core.models import Invoice, Receipt
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged

# 03:00 UTC on 28 November is 17:00 on the 27th in Honolulu (UTC-10).
HONOLULU_EVENING = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
# 21:43 UTC on 27 November is 11:43 on the 28th on Kiritimati (UTC+14).
KIRITIMATI_MORNING = datetime(2026, 11, 27, 21, 43, tzinfo=UTC)


def test_unknown_time_zones_are_refused_and_change_nothing(session):
    set_time_zone(session, zone="America/Chicago", actor=ACTOR)
    for zone, message in (("Mars/Olympus_Mons", "'Mars/Olympus_Mons' is not a time zone"),
                          ("UTC+14", "is not a time zone"), ("../etc/passwd", "is not a time zone"),
                          (14, "must be a name such as America/Chicago")):
        assert_refused_unchanged(session, lambda zone=zone: set_time_zone(session, zone=zone, actor=ACTOR),
                                 match=message)
    assert_refused_unchanged(session, lambda: set_time_zone(session, zone="UTC", actor=" "), match="actor")
    assert time_zone_name(session) == "America/Chicago"


def test_time_zone_change_is_audited_and_read_by_every_session(session, time_machine):
    time_machine.move_to(HONOLULU_EVENING, tick=False)
    set_time_zone(session, zone="UTC", actor="ann")
    assert clock.today(session) == date(2026, 11, 28)
    set_time_zone(session, zone=" Pacific/Honolulu ", actor="bob")
    assert clock.today(session) == date(2026, 11, 27)  # the same session sees the change at once
    session.commit()
    with Session(session.get_bind()) as other:
        assert time_zone_name(other) == "Pacific/Honolulu" and clock.today(other) == date(2026, 11, 27)
    entries = audit_log(session, action="settings.time_zone")
    assert [(e.actor, e.detail["before"], e.detail["after"]) for e in entries] == [
        ("bob", "UTC", "Pacific/Honolulu"), ("ann", "server", "UTC")]
    at = entries[0].at if entries[0].at.tzinfo else entries[0].at.replace(tzinfo=UTC)
    assert at == HONOLULU_EVENING


def test_without_a_setting_today_is_the_servers_day(session, time_machine):
    time_machine.move_to(HONOLULU_EVENING, tick=False)
    # The operating system's own conversion of that instant to local time (TZ decides the zone).
    assert clock.today(session) == datetime.fromtimestamp(HONOLULU_EVENING.timestamp()).date()
    set_time_zone(session, zone="Pacific/Honolulu", actor=ACTOR)
    set_time_zone(session, zone="", actor=ACTOR)  # back to following the server
    assert time_zone_name(session) == ""
    assert clock.today(session) == datetime.fromtimestamp(HONOLULU_EVENING.timestamp()).date()


def test_honolulu_evening_is_still_the_27th(session, time_machine):
    time_machine.move_to(HONOLULU_EVENING, tick=False)
    billing_on(session)
    set_time_zone(session, zone="Pacific/Honolulu", actor=ACTOR)
    party = make_party(session)
    make_encounter(session, party, dos=date(2026, 11, 20), amounts=("150.00",))
    session.commit()
    assert clock.today(session) == date(2026, 11, 27)

    receipt = post_receipt(session, party_id=party.id, amount="25.00", received_date=date(2026, 11, 27),
                           method="check", actor=ACTOR)
    session.commit()
    stored = session.get(Receipt, receipt.id)
    assert (stored.received_date, stored.post_date) == (date(2026, 11, 27), date(2026, 11, 27))
    assert_refused_unchanged(session, lambda: post_receipt(
        session, party_id=party.id, amount="25.00", received_date=date(2026, 11, 28), method="check", actor=ACTOR),
        match=r"received date 2026-11-28 is in the future; the practice's today is 2026-11-27")

    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    session.commit()
    assert batch.sent_on == date(2026, 11, 27)
    invoice = session.get(Invoice, batch.items[0].invoice_id)
    assert (invoice.first_sent_on, invoice.due_on) == (date(2026, 11, 27), date(2026, 12, 27))
    assert [r.number for r in list_batches(session, created_from=date(2026, 11, 27),
                                           created_to=date(2026, 11, 27))] == [batch.number]


def test_kiritimati_morning_is_already_the_28th(session, time_machine):
    time_machine.move_to(KIRITIMATI_MORNING, tick=False)
    billing_on(session)
    set_time_zone(session, zone="Pacific/Kiritimati", actor=ACTOR)
    party = make_party(session)
    make_encounter(session, party, dos=date(2026, 11, 27), amounts=("80.00",))
    session.commit()
    assert clock.today(session) == date(2026, 11, 28)

    receipt = post_receipt(session, party_id=party.id, amount="80.00", received_date=date(2026, 11, 28),
                           method="ACH", actor=ACTOR)
    session.commit()
    assert session.get(Receipt, receipt.id).post_date == date(2026, 11, 28)
    assert_refused_unchanged(session, lambda: post_receipt(
        session, party_id=party.id, amount="1.00", received_date="2026-11-29", method="ACH", actor=ACTOR),
        match="in the future; the practice's today is 2026-11-28")

    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    session.commit()
    assert batch.sent_on == date(2026, 11, 28)
    assert batch.items[0].sent_on == date(2026, 11, 28)
    assert session.get(Invoice, batch.items[0].invoice_id).due_on == date(2026, 12, 28)


@pytest.mark.skipif(not os.environ.get("INVOICE_DESK_TEST_NOW"), reason="only in CI's frozen-clock runs")
def test_a_frozen_run_keeps_its_time_zone_and_starts_on_its_day():
    # time-machine sets TZ itself when it travels to a zoned datetime; that would quietly turn CI's
    # far-from-UTC runs into UTC runs. The run's zone and start moment must both be in force.
    started = datetime.fromisoformat(os.environ["INVOICE_DESK_TEST_NOW"])
    if os.environ.get("TZ"):
        assert clock.server_zone_name() == os.environ["TZ"].lstrip(":")
    moment = clock.now()
    assert started <= moment < started + timedelta(hours=3)
    assert clock.today() == started.astimezone(clock.server_zone()).date()


def test_day_boundaries_follow_the_practices_zone_through_a_clock_change(session):
    set_time_zone(session, zone="America/Chicago", actor=ACTOR)
    # 8 March 2026: clocks in Chicago go forward, so the day is 23 hours long.
    spring = date(2026, 3, 8)
    assert clock.day_start(spring, session) == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert clock.day_after_start(spring, session) == datetime(2026, 3, 9, 5, 0, tzinfo=UTC)
    assert clock.day_start(spring, session).tzinfo == UTC
    # A stored moment without a zone is UTC: 04:59 UTC on the 9th is still the 8th in Chicago.
    assert clock.day_of(datetime(2026, 3, 9, 4, 59), session) == spring
    assert clock.day_of(datetime(2026, 3, 9, 5, 0), session) == date(2026, 3, 9)
    assert clock.day_of(datetime(2026, 3, 9, 5, 0, tzinfo=UTC), session) == date(2026, 3, 9)


def test_zone_names_and_the_servers_zone(monkeypatch):
    assert clock.zone_named(" America/Chicago ").key == "America/Chicago"
    for name in ("", "   ", None, "Mars/Base", "America/chicago"):
        assert clock.zone_named(name) is None
    monkeypatch.setenv("TZ", ":Pacific/Honolulu")  # the libc spelling with a leading colon
    assert clock.server_zone().key == "Pacific/Honolulu" and clock.server_zone_name() == "Pacific/Honolulu"
    assert clock.zone().key == "Pacific/Honolulu"
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    assert clock.server_zone_name() == "Pacific/Kiritimati"
    monkeypatch.setenv("TZ", "Nowhere/Special")
    expected = datetime.now().astimezone().tzinfo  # not a zone name: the operating system's local zone
    assert clock.server_zone().utcoffset(datetime.now()) == expected.utcoffset(datetime.now())
    assert clock.now().tzinfo is UTC


def test_a_session_reads_the_zone_once_until_told_to_forget(session):
    set_time_zone(session, zone="Pacific/Honolulu", actor=ACTOR)
    assert clock.zone(session).key == "Pacific/Honolulu"
    from core.models import Setting

    session.get(Setting, clock.ZONE_SETTING).value = "Asia/Tokyo"  # changed behind the session's back
    session.flush()
    assert clock.zone(session).key == "Pacific/Honolulu"
    clock.forget_zone(session)
    assert clock.zone(session).key == "Asia/Tokyo"
    clock.forget_zone(session)
    clock.forget_zone(session)  # forgetting twice is harmless
    assert clock.today(session) == clock.now().astimezone(clock.zone_named("Asia/Tokyo")).date()


def test_a_server_zone_without_a_name_is_shown_by_its_abbreviation(session, monkeypatch):
    monkeypatch.setenv("TZ", "Nowhere/Special")
    local = datetime.now().astimezone()
    expected = getattr(local.tzinfo, "key", None) or local.tzname()
    assert clock.server_zone_name() == expected and expected
    assert time_zone_name(session) == ""  # no setting yet: the practice follows the server
