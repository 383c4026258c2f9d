"""The audit log: every kind of write leaves who, when, what, which records and, for changes, before and after;
the log's date filter includes its first and last practice day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core import (
    AuditEntry,
    allocate_credit,
    allocate_receipt,
    audit_changes,
    audit_log,
    create_credit_memo,
    create_group,
    create_on_demand_batch,
    create_party,
    import_csv,
    post_receipt,
    rebatch,
    save_invoice_profile,
    set_invoice_billing,
    set_time_zone,
    update_group,
    update_party,
    void_receipt,
)
from core.imports import ENCOUNTER_COLUMNS, PARTY_COLUMNS
from core.models import (
    Allocation,
    Batch,
    CreditMemo,
    Encounter,
    Group,
    Invoice,
    InvoiceProfile,
    Party,
    Receipt,
)
from tests.factories import ACTOR, billing_on, make_encounter, make_party

D = Decimal
MOMENT = datetime(2026, 5, 4, 15, 30, tzinfo=UTC)
HONOLULU = ZoneInfo("Pacific/Honolulu")


def _ids(entry: AuditEntry) -> list[int]:
    return sorted(int(i) for i in entry.record_ids.split(",") if i)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rows(session, entry: AuditEntry) -> list[int]:
    """The records an import's per-row audit names (core.audit_changes), by id."""
    return sorted(c.record_id for c in audit_changes(session, audit_id=entry.id))


def _only(session, action: str) -> AuditEntry:
    entries = audit_log(session, action=action)
    assert len(entries) == 1, f"expected one {action} record, found {len(entries)}"
    return entries[0]


def _who_when_what(entry: AuditEntry) -> tuple:
    return entry.actor, _utc(entry.at), entry.action


def test_batch_and_rebatch_records_name_the_new_batch(session, time_machine):
    time_machine.move_to(MOMENT, tick=False)
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, amounts=("125.50",))
    make_encounter(session, party, amounts=("74.50",))
    batch = create_on_demand_batch(session, party_id=party.id, actor="ann")
    resend = rebatch(session, source_batch_id=batch.id, actor="bob")
    session.commit()

    created = _only(session, "batch.create")
    assert _who_when_what(created) == ("ann", MOMENT, "batch.create") and _ids(created) == [batch.id]
    row = session.get(Batch, batch.id)
    assert (row.created_by, row.kind) == ("ann", "on-demand")
    assert (created.detail["number"], created.detail["invoices"], created.detail["encounters"],
            created.detail["total"]) == (row.number, 1, 2, "200.00")
    resent = _only(session, "batch.rebatch")
    assert _who_when_what(resent) == ("bob", MOMENT, "batch.rebatch") and _ids(resent) == [resend.id]
    assert session.get(Batch, resend.id).source_batch_id == batch.id
    assert (resent.detail["source_batch"], resent.detail["invoices"]) == (batch.number, 1)


def test_receipt_post_allocate_and_void_records(session, time_machine):
    time_machine.move_to(MOMENT, tick=False)
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, amounts=("100.00",))
    first = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0].invoice_id
    make_encounter(session, party, amounts=("50.00",))
    second = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0].invoice_id
    receipt = post_receipt(session, party_id=party.id, amount="90.00", received_date=date(2026, 5, 4),
                           method="check", reference="CHK 77", allocations={first: D("60.00")}, actor="ann")
    allocate_receipt(session, receipt_id=receipt.id, allocations={second: D("30.00")}, actor="bob")
    void_receipt(session, receipt_id=receipt.id, reason="Check returned NSF", actor="cy")
    session.commit()

    row = session.get(Receipt, receipt.id)
    assert (row.party_id, row.amount_cents, row.created_by, row.voided_by) == (party.id, 9000, "ann", "cy")
    posted = _only(session, "receipt.post")
    assert _who_when_what(posted) == ("ann", MOMENT, "receipt.post") and _ids(posted) == [receipt.id]
    one, two = session.get(Invoice, first).number, session.get(Invoice, second).number
    # Invoices are named by their numbers, as the manager knows them; the log reads as words.
    assert (posted.detail["amount"], posted.detail["allocations"]) == ("90.00", {one: "60.00"})
    assert posted.record == f"receipt {posted.detail['number']}"
    assert posted.details == f"Party: {party.account_code}; Amount: $90.00; Allocations: {one} $60.00"
    allocated = _only(session, "receipt.allocate")
    assert _who_when_what(allocated) == ("bob", MOMENT, "receipt.allocate") and _ids(allocated) == [receipt.id]
    assert allocated.detail["allocations"] == {two: "30.00"}
    voided = _only(session, "receipt.void")
    assert _who_when_what(voided) == ("cy", MOMENT, "receipt.void") and _ids(voided) == [receipt.id]
    assert voided.detail["reason"] == "Check returned NSF"
    assert voided.detail["reversed_invoices"] == sorted([one, two])
    assert voided.detail["reversed"] == "90.00"
    assert f"Invoices reversed: {', '.join(sorted([one, two]))}" in voided.details
    assert voided.details.startswith("Reason: Check returned NSF; ") and "Reversed: $90.00" in voided.details


def test_credit_memo_and_its_allocation_records(session, time_machine):
    time_machine.move_to(MOMENT, tick=False)
    billing_on(session)
    party, elsewhere = make_party(session), make_party(session)
    wrong = make_encounter(session, party, amounts=("80.00",))
    make_encounter(session, party, amounts=("20.00",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    post_receipt(session, party_id=party.id, amount="100.00", received_date=date(2026, 5, 4), method="ACH",
                 allocations={item.invoice_id: D("100.00")}, actor=ACTOR)
    make_encounter(session, party, amounts=("45.00",))
    later = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0].invoice_id
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[wrong.id], action="reassign",
                              reassign_to_party_id=elsewhere.id, reason="Billed to the wrong employer", actor="dee")
    allocate_credit(session, credit_memo_id=memo.id, allocations={later: D("45.00")}, actor="eve")
    session.commit()

    row = session.get(CreditMemo, memo.id)
    assert (row.invoice_id, row.amount_cents, row.created_by) == (item.invoice_id, 8000, "dee")
    created = _only(session, "credit_memo.create")
    assert _who_when_what(created) == ("dee", MOMENT, "credit_memo.create") and _ids(created) == [memo.id]
    invoice_number = session.get(Invoice, item.invoice_id).number
    assert (created.detail["invoice"], created.detail["encounters"], created.detail["action"],
            created.detail["reassigned_to"], created.detail["amount"], created.detail["unapplied"]) == (
        invoice_number, [wrong.number], "reassign", elsewhere.account_code, "80.00", "80.00")
    assert f"Encounters: {wrong.number}; " in created.details and f"Reassigned to: {elsewhere.account_code}" in \
        created.details
    assert session.get(Encounter, wrong.id).party_id == elsewhere.id
    allocated = _only(session, "credit_memo.allocate")
    assert _who_when_what(allocated) == ("eve", MOMENT, "credit_memo.allocate") and _ids(allocated) == [memo.id]
    assert allocated.detail["allocations"] == {session.get(Invoice, later).number: "45.00"}
    live = session.execute(sa.select(Allocation.invoice_id, Allocation.amount_cents).where(
        Allocation.credit_memo_id == memo.id)).all()
    assert live == [(later, 4500)]


def test_settings_changes_record_before_and_after(session, time_machine):
    time_machine.move_to(MOMENT, tick=False)
    set_invoice_billing(session, enabled=True, actor="ann")
    set_invoice_billing(session, enabled=False, actor="bob")
    set_time_zone(session, zone="Pacific/Honolulu", actor="cy")
    set_time_zone(session, zone="", actor="cy")
    first = save_invoice_profile(session, actor="dee", remit_to_name="Harbor Clinic", terms_days=30)
    second = save_invoice_profile(session, actor="eve", terms_days=45, footer="Thank you", logo=b"\x89PNG" + b"0" * 96,
                                  logo_mime="image/png", remit_to_name="Harbor Clinic")
    session.commit()

    billing = audit_log(session, action="settings.invoice_billing")
    assert [(e.actor, e.detail["before"], e.detail["after"]) for e in billing] == [("bob", "on", "off"),
                                                                                ("ann", "off", "on")]
    zones = audit_log(session, action="settings.time_zone")
    assert [(e.actor, e.detail["before"], e.detail["after"]) for e in zones] == [
        ("cy", "Pacific/Honolulu", "server"), ("cy", "server", "Pacific/Honolulu")]
    assert _utc(zones[0].at) == MOMENT
    profiles = audit_log(session, action="settings.invoice_profile")
    assert [(e.actor, _ids(e), e.detail["version"]) for e in profiles] == [("eve", [second.id], 2),
                                                                          ("dee", [first.id], 1)]
    assert session.get(InvoiceProfile, second.id).terms_days == 45
    changes = profiles[0].detail["changes"]
    assert changes["terms_days"] == [30, 45]
    assert changes["footer"] == [session.get(InvoiceProfile, first.id).footer, "Thank you"]
    assert changes["logo_mime"] == ["", "image/png"]
    assert "logo" in changes and "remit_to_name" not in changes  # only what really changed
    assert "Terms days: 30 → 45" in profiles[0].details and "Logo: none → 100 bytes" in profiles[0].details
    assert billing[0].details == "Before: on; After: off"


def test_parties_and_groups_records_name_them_and_what_changed(session, time_machine):
    time_machine.move_to(MOMENT, tick=False)
    group = create_group(session, name="Harbor Holdings", actor="ann")
    party = create_party(session, account_code="HRB01", name="Harbor Freight Yard", actor="ann",
                         group_id=group.id, city="Salem")
    update_party(session, party_id=party.id, actor="bob", city="Portland", billable=False, name="Harbor Freight Yard")
    update_group(session, group_id=group.id, actor="cy", name="Harbor Group", active=False)
    session.commit()
    other = create_group(session, name="Salem Yards", actor="ann")
    update_party(session, party_id=party.id, actor="dee", group_id=other.id)
    session.commit()

    g = audit_log(session, action="group.create")[-1]
    assert _who_when_what(g) == ("ann", MOMENT, "group.create") and _ids(g) == [group.id]
    assert session.get(Group, group.id).name == "Harbor Group" and g.detail["name"] == "Harbor Holdings"
    p = _only(session, "party.create")
    assert _who_when_what(p) == ("ann", MOMENT, "party.create") and _ids(p) == [party.id]
    assert (p.detail["account_code"], p.detail["name"]) == ("HRB01", "Harbor Freight Yard")
    regrouped, pu = audit_log(session, action="party.update")
    assert _who_when_what(pu) == ("bob", MOMENT, "party.update") and _ids(pu) == [party.id]
    assert pu.detail == {"city": ["Salem", "Portland"], "billable": [True, False]}
    assert pu.details == "Billable: yes → no; City: Salem → Portland"
    # A group is named, not numbered.
    assert regrouped.details == "Group: Harbor Group → Salem Yards"
    stored = session.get(Party, party.id)
    assert (stored.city, stored.billable) == ("Portland", False)
    gu = _only(session, "group.update")
    assert _who_when_what(gu) == ("cy", MOMENT, "group.update") and _ids(gu) == [group.id]
    assert gu.detail == {"name": ["Harbor Holdings", "Harbor Group"], "active": [True, False]}


def _csv(columns, *rows) -> str:
    return "\n".join([",".join(columns), *rows]) + "\n"


def test_imports_record_the_rows_they_wrote_and_what_changed(session, time_machine):
    time_machine.move_to(MOMENT, tick=False)
    parties = _csv(PARTY_COLUMNS, "ACME01,Acme Works,employer,Acme Group,yes,Pat Lee,ap@acme.example,1 Main St,,Salem,OR,97301",
                   "BOLT01,Bolt Co,employer,,no,,,2 Main St,,Salem,OR,97301")
    assert import_csv(session, kind="parties", data=parties, actor="ann").created == 2
    session.commit()
    codes = dict(session.execute(sa.select(Party.account_code, Party.id)).all())
    first = _only(session, "import.parties")
    assert _who_when_what(first) == ("ann", MOMENT, "import.parties")
    assert _rows(session, first) == sorted(codes.values()) and first.detail["created"] == 2

    moved = parties.replace("1 Main St,,Salem", "9 Elm St,,Portland")
    assert import_csv(session, kind="parties", data=moved, actor="bob").updated == 1
    session.commit()
    second = audit_log(session, action="import.parties")[0]
    assert second.actor == "bob" and _rows(session, second) == [codes["ACME01"]]
    assert [(c.key, c.changes) for c in audit_changes(session, audit_id=second.id)] == [
        ("ACME01", {"address_line1": ["1 Main St", "9 Elm St"], "city": ["Salem", "Portland"]})]

    encounters = _csv(ENCOUNTER_COLUMNS, "E-1,P-1,Jo Smith,ACME01,2026-04-01,2026-04-02,80305,Drug screen,1,45.00",
                      "E-1,P-1,Jo Smith,ACME01,2026-04-01,2026-04-02,99213,Visit,1,100.00",
                      "E-2,P-2,Al Jones,BOLT01,2026-04-03,2026-04-03,80305,Drug screen,1,45.00")
    assert import_csv(session, kind="encounters", data=encounters, actor="cy").created == 2
    session.commit()
    numbers = dict(session.execute(sa.select(Encounter.number, Encounter.id)).all())
    enc_first = _only(session, "import.encounters")
    assert _who_when_what(enc_first) == ("cy", MOMENT, "import.encounters")
    assert _rows(session, enc_first) == sorted(numbers.values())

    repriced = encounters.replace("Visit,1,100.00", "Visit,1,110.00")
    assert import_csv(session, kind="encounters", data=repriced, actor="dee").updated == 1
    session.commit()
    enc_second = audit_log(session, action="import.encounters")[0]
    assert enc_second.actor == "dee" and _rows(session, enc_second) == [numbers["E-1"]]
    assert audit_changes(session, audit_id=enc_second.id, key="E-1")[0].changes["total"] == ["145.00", "155.00"]
    assert session.get(Encounter, numbers["E-1"]).total_cents == 15500


# ---------- the date filter: first and last day included, in the practice's zone ----------

def test_audit_log_dates_include_first_and_last_practice_day(session, time_machine):
    set_time_zone(session, zone="Pacific/Honolulu", actor=ACTOR)
    day = date(2026, 11, 27)

    def local(d: date, hour: int, minute: int) -> datetime:
        return datetime(d.year, d.month, d.day, hour, minute, tzinfo=HONOLULU).astimezone(UTC)

    moments = {"day before 23:59": local(day - timedelta(days=1), 23, 59), "00:00": local(day, 0, 0),
               "23:30": local(day, 23, 30), "23:59": local(day, 23, 59),
               "day after 00:00": local(day + timedelta(days=1), 0, 0)}
    assert moments["23:30"].date() == day + timedelta(days=1)  # already the next day in UTC
    for label, moment in moments.items():
        time_machine.move_to(moment, tick=False)
        create_group(session, name=label, actor=ACTOR)
    session.commit()

    def logged(**dates):
        return {e.detail["name"] for e in audit_log(session, action="group.create", **dates)}

    on_the_day = {"00:00", "23:30", "23:59"}
    assert logged(since=day, until=day) == on_the_day
    assert logged(until=day) == on_the_day | {"day before 23:59"}
    assert logged(since=day) == on_the_day | {"day after 00:00"}
    assert logged(since=day + timedelta(days=1), until=day + timedelta(days=1)) == {"day after 00:00"}
    assert logged(since=day - timedelta(days=1), until=day - timedelta(days=1)) == {"day before 23:59"}


def test_the_audit_logs_who_and_what_pickers_list_each_once_in_order(session):
    from core import audit_actions, audit_actors, create_group

    assert (audit_actors(session), audit_actions(session)) == ([], [])
    create_group(session, name="Zeta", actor="zoe")
    create_group(session, name="Alpha", actor="al")
    set_time_zone(session, zone="UTC", actor="zoe")
    assert audit_actors(session) == ["al", "zoe"]
    assert audit_actions(session) == ["group.create", "settings.time_zone"]


def test_the_audit_log_filters_by_who_and_pages_newest_first(session):
    from core import create_group

    for n in range(201):
        create_group(session, name=f"G{n:03d}", actor="bulk" if n % 2 else "solo")
    entries = audit_log(session)
    assert len(entries) == 200 and entries[0].detail == {"name": "G200"} and entries[-1].detail == {"name": "G001"}
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)
    assert entries[0].entity == "party_group" and entries[0].action == "group.create"
    assert {e.actor for e in audit_log(session, actor="solo", limit=500)} == {"solo"}
    assert len(audit_log(session, actor="solo", limit=500)) == 101
    assert [e.detail["name"] for e in audit_log(session, limit=2, offset=1)] == ["G199", "G198"]
    assert audit_log(session, actor="nobody") == []


def test_each_record_keeps_the_moment_the_action_is_dated_not_the_moment_it_was_typed(session):
    """A notebook replaying yesterday's work passes as_of: the audit log says when it happened."""
    billing_on(session)
    party = make_party(session)
    encounters = [make_encounter(session, party, amounts=(a,)) for a in ("60.00", "40.00")]
    day = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=day)
    item = batch.items[0]
    resend = rebatch(session, source_batch_id=batch.id, include_paid=True, actor=ACTOR, as_of=day)
    receipt = post_receipt(session, party_id=party.id, amount="70.00", received_date=day.date(), method="check",
                           allocations={item.invoice_id: "30.00"}, actor=ACTOR, as_of=day)
    allocate_receipt(session, receipt_id=receipt.id, allocations={item.invoice_id: "10.00"}, actor=ACTOR, as_of=day)
    void_receipt(session, receipt_id=receipt.id, reason="NSF", actor=ACTOR, as_of=day)
    create_credit_memo(session, batch_item_id=item.id, encounter_ids=[encounters[0].id], action="void",
                       reason="Billed in error", actor=ACTOR, as_of=day)
    session.commit()
    entries = audit_log(session)
    dated = [e for e in entries if not e.action.startswith("settings.")]
    assert {e.action for e in dated} == {"batch.create", "batch.rebatch", "receipt.post", "receipt.allocate",
                                         "receipt.void", "credit_memo.create"}
    assert {_utc(e.at) for e in dated} == {day}
    resent = _only(session, "batch.rebatch")
    assert resent.detail == {"number": session.get(Batch, resend.id).number, "source_batch": batch.number,
                             "include_paid": True, "invoices": 1, "total": "100.00"}
