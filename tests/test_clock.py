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
