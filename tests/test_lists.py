"""What the screens list, read through core: every column of receipts, batches, a batch's items, credit memos
and invoice history, their order, filters and paging, compared with the records the test made."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from core import (
    InvoiceDeskError,
    allocate_credit,
    batch_items,
    clock,
    create_credit_memo,
    create_on_demand_batch,
    invoice_history,
    list_batches,
    list_credit_memos,
    list_receipts,
    post_receipt,
    rebatch,
    set_time_zone,
    void_receipt,
)
from core.history import invoice_history_count
from core.models import Batch, Encounter, Patient
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party


@pytest.fixture
def scene(session):
    """Two employers in a group and one on its own, three batches (one a rebatch), receipts and credit memos."""
    set_time_zone(session, zone="UTC", actor=ACTOR)
    billing_on(session)
    today = clock.today(session)
    s = type("Scene", (), {})()
    s.today = today
    s.group = make_group(session, "Harbor Group")
    s.alpha = make_party(session, name="Alpha Works", group=s.group)
    s.bravo = make_party(session, name="Bravo Freight", group=s.group)
    s.solo = make_party(session, name="Solo Diner")
    s.a_late = make_encounter(session, s.alpha, dos=today - timedelta(days=20), amounts=("100.00",))
    s.a_early = make_encounter(session, s.alpha, dos=today - timedelta(days=30), amounts=("40.00", "10.00"))
    s.b1 = make_encounter(session, s.bravo, dos=today - timedelta(days=10), amounts=("70.00",))
    s.s1 = make_encounter(session, s.solo, dos=today - timedelta(days=5), amounts=("25.00",))
    s.patient = {e.id: session.get(Patient, e.patient_id).name for e in (s.a_late, s.a_early, s.b1, s.s1)}
    s.group_batch = create_on_demand_batch(session, group_id=s.group.id, internal_note="Harbor run", actor="ann")
    s.solo_batch = create_on_demand_batch(session, party_id=s.solo.id, actor="bob")
    s.item = {i.party_id: i for i in s.group_batch.items}
    s.item[s.solo.id] = s.solo_batch.items[0]
    session.commit()
    return s


def test_receipts_list_every_column_newest_received_first_with_filters_and_paging(session, scene):
    s = scene
    alpha_inv, bravo_inv = s.item[s.alpha.id].invoice_id, s.item[s.bravo.id].invoice_id
    r_old = post_receipt(session, party_id=s.alpha.id, amount="60.00", received_date=s.today - timedelta(days=3),
                         method="check", reference="CHK 101", allocations={alpha_inv: D("50.00")}, actor=ACTOR)
    r_mid = post_receipt(session, party_id=s.bravo.id, amount="70.00", received_date=s.today - timedelta(days=2),
                         method="ach", reference="ACH 7", allocations={bravo_inv: D("70.00")}, actor=ACTOR)
    r_bounced = post_receipt(session, party_id=s.alpha.id, amount="30.00", received_date=s.today - timedelta(days=2),
                             method="check", reference="CHK 102", allocations={alpha_inv: D("30.00")}, actor=ACTOR)
    void_receipt(session, receipt_id=r_bounced.id, reason="Check bounced", actor=ACTOR)
    # Entered last, received first: it goes to the end.
    r_found = post_receipt(session, party_id=s.solo.id, amount="5.00", received_date=s.today - timedelta(days=9),
                           method="cash", actor=ACTOR)
    session.commit()

    rows = list_receipts(session)
    # Newest received first; on the same day, the later receipt first.
    assert [r.receipt_id for r in rows] == [r_bounced.id, r_mid.id, r_old.id, r_found.id]
    by_id = {r.receipt_id: r for r in rows}
    assert tuple(vars(by_id[r_old.id]).values()) == (
        r_old.id, f"RCT-{r_old.number:06d}", s.alpha.id, "Alpha Works", D("60.00"), D("50.00"), D("10.00"),
        s.today - timedelta(days=3), "check", "CHK 101", False, "", D("0.00"))
    assert tuple(vars(by_id[r_mid.id]).values()) == (
        r_mid.id, f"RCT-{r_mid.number:06d}", s.bravo.id, "Bravo Freight", D("70.00"), D("70.00"), D("0.00"),
        s.today - timedelta(days=2), "ACH", "ACH 7", False, "", D("0.00"))
    # A voided receipt keeps its amount but nothing of it is applied or left to apply.
    assert tuple(vars(by_id[r_bounced.id]).values()) == (
        r_bounced.id, f"RCT-{r_bounced.number:06d}", s.alpha.id, "Alpha Works", D("30.00"), D("0.00"), D("0.00"),
        s.today - timedelta(days=2), "check", "CHK 102", True, "Check bounced", D("0.00"))

    assert [r.receipt_id for r in list_receipts(session, party_id=s.alpha.id)] == [r_bounced.id, r_old.id]
    assert [r.receipt_id for r in list_receipts(session, only_unapplied=True)] == [r_old.id, r_found.id]
    assert [r.receipt_id for r in list_receipts(session, include_voided=False)] == [r_mid.id, r_old.id, r_found.id]
    assert [r.receipt_id for r in list_receipts(session, limit=2)] == [r_bounced.id, r_mid.id]
    assert [r.receipt_id for r in list_receipts(session, limit=2, offset=2)] == [r_old.id, r_found.id]
    assert [r.receipt_id for r in list_receipts(session, party_id=s.solo.id)] == [r_found.id]


def test_receipts_list_shows_a_hundred_by_default(session, scene):
    for n in range(101):
        post_receipt(session, party_id=scene.solo.id, amount="1.00", received_date=scene.today, method="cash",
                     reference=f"R{n}", actor=ACTOR)
    assert len(list_receipts(session)) == 100


def test_batches_list_every_column_newest_first_with_filters(session, scene):
    s = scene
    resent = rebatch(session, source_batch_id=s.group_batch.id, internal_note="Second notice", actor="cy")
    # A monthly cycle batch, made by the practice's billing system rather than by Invoice Desk, has no target.
    session.execute(sa.update(Batch.__table__).where(Batch.__table__.c.id == s.solo_batch.id)
                    .values(party_id=None, group_id=None, kind="cycle"))
    session.commit()

    rows = list_batches(session)
    assert [r.number for r in rows] == [resent.number, s.solo_batch.number, s.group_batch.number]
    group_row = rows[2]
    assert tuple(vars(group_row).values()) == (
        s.group_batch.id, s.group_batch.number, "on-demand", "Group: Harbor Group", None, "ann",
        s.group_batch.created_at, 2, 3, D("220.00"), "Harbor run")
    assert (rows[1].kind, rows[1].target, rows[1].created_by, rows[1].invoice_count, rows[1].encounter_count,
            rows[1].total, rows[1].internal_note) == ("cycle", "All parties", "bob", 1, 1, D("25.00"), "")
    assert (rows[0].kind, rows[0].target, rows[0].source_batch_number, rows[0].created_by, rows[0].total,
            rows[0].internal_note) == ("rebatch", "Group: Harbor Group", s.group_batch.number, "cy", D("220.00"),
                                       "Second notice")

    assert [r.number for r in list_batches(session, number=s.solo_batch.number)] == [s.solo_batch.number]
    assert [r.number for r in list_batches(session, kind="rebatch")] == [resent.number]
    assert [r.number for r in list_batches(session, party_id=s.bravo.id)] == [resent.number, s.group_batch.number]
    assert [r.number for r in list_batches(session, limit=1, offset=1)] == [s.solo_batch.number]
    assert [r.number for r in list_batches(session, created_from=s.today, created_to=s.today)] == \
        [resent.number, s.solo_batch.number, s.group_batch.number]
    assert list_batches(session, created_from=s.today + timedelta(days=1)) == []
    assert list_batches(session, created_to=s.today - timedelta(days=1)) == []


def test_batches_list_shows_fifty_by_default(session, scene):
    for _ in range(50):
        make_encounter(session, scene.solo, dos=scene.today, amounts=("1.00",))
        create_on_demand_batch(session, party_id=scene.solo.id, actor=ACTOR)
    rows = list_batches(session)
    assert len(rows) == 50 and rows[-1].number == scene.solo_batch.number + 1


def test_a_batchs_items_as_sent_with_their_encounters_oldest_first_and_credits_since(session, scene):
    s = scene
    alpha_item = s.item[s.alpha.id]
    post_receipt(session, party_id=s.alpha.id, amount="30.00", received_date=s.today, method="check",
                 allocations={alpha_item.invoice_id: D("30.00")}, actor=ACTOR)
    create_credit_memo(session, batch_item_id=alpha_item.id, encounter_ids=[s.a_late.id], action="void",
                       reason="Billed in error", actor=ACTOR)
    session.commit()

    items = batch_items(session, batch_id=s.group_batch.id)
    assert [i.party_name for i in items] == sorted(["Alpha Works", "Bravo Freight"], key=lambda n: (
        s.alpha.id if n == "Alpha Works" else s.bravo.id))
    alpha = next(i for i in items if i.party_id == s.alpha.id)
    # The columns as sent stay; the live balance moved with the payment and the credit.
    assert (alpha.batch_item_id, alpha.invoice_id, alpha.invoice_number, alpha.times_batched, alpha.party_name,
            alpha.sent.billed, alpha.sent.payments, alpha.sent.credits, alpha.sent.balance_due, alpha.now.balance_due,
            alpha.now.status) == (
        alpha_item.id, alpha_item.invoice_id, alpha_item.invoice_number, 1, "Alpha Works",
        D("150.00"), D("0.00"), D("0.00"), D("150.00"), D("20.00"), "Open")
    assert [(e.encounter_id, e.number, e.date_of_service, e.patient, e.amount, e.credited) for e in alpha.encounters] == [
        (s.a_early.id, s.a_early.number, s.a_early.date_of_service, s.patient[s.a_early.id], D("50.00"), False),
        (s.a_late.id, s.a_late.number, s.a_late.date_of_service, s.patient[s.a_late.id], D("100.00"), True),
    ]
    bravo = next(i for i in items if i.party_id == s.bravo.id)
    assert [(e.encounter_id, e.patient, e.amount) for e in bravo.encounters] == [(s.b1.id, s.patient[s.b1.id],
                                                                                  D("70.00"))]

    # The resend snapshots what is owed now; items of a paid invoice say Paid.
    post_receipt(session, party_id=s.bravo.id, amount="70.00", received_date=s.today, method="check",
                 allocations={s.item[s.bravo.id].invoice_id: D("70.00")}, actor=ACTOR)
    resent = rebatch(session, source_batch_id=s.group_batch.id, include_paid=True, actor=ACTOR)
    again = {i.party_id: i for i in batch_items(session, batch_id=resent.id)}
    assert (again[s.alpha.id].invoice_number, again[s.alpha.id].times_batched, again[s.alpha.id].sent.billed,
            again[s.alpha.id].sent.payments, again[s.alpha.id].sent.credits, again[s.alpha.id].sent.balance_due) == (
        f"{alpha_item.invoice_number}-2", 2, D("150.00"), D("30.00"), D("100.00"), D("20.00"))
    assert (again[s.bravo.id].now.balance_due, again[s.bravo.id].now.status, again[s.bravo.id].sent.balance_due) == \
        (D("0.00"), "Paid", D("0.00"))
    assert batch_items(session, batch_id=s.group_batch.id + 1000) == []


def test_credit_memos_list_every_column_newest_first_with_filters(session, scene):
    s = scene
    alpha_item, solo_item = s.item[s.alpha.id], s.item[s.solo.id]
    first = create_credit_memo(session, batch_item_id=alpha_item.id, encounter_ids=[s.a_early.id], action="void",
                               reason="Duplicate visit", actor="ann")
    second = create_credit_memo(session, batch_item_id=solo_item.id, encounter_ids=[s.s1.id], action="reassign",
                                reassign_to_party_id=s.bravo.id, reason="Wrong employer", actor="bob")
    session.commit()
    rows = list_credit_memos(session)
    assert [r.credit_memo_id for r in rows] == [second.id, first.id]
    # The void credit paid part of Alpha's invoice (it owed 150.00, the credit is 50.00: all applied there).
    assert tuple(vars(rows[1]).values()) == (
        first.id, f"CM-{first.number:06d}", alpha_item.invoice_number, s.alpha.id, "Alpha Works", "void",
        "Duplicate visit", D("50.00"), D("0.00"), s.today, "ann", D("0.00"))
    assert tuple(vars(rows[0]).values()) == (
        second.id, f"CM-{second.number:06d}", solo_item.invoice_number, s.solo.id, "Solo Diner", "reassign",
        "Wrong employer", D("25.00"), D("0.00"), s.today, "bob", D("0.00"))
    assert [r.credit_memo_id for r in list_credit_memos(session, party_id=s.solo.id)] == [second.id]
    assert [r.credit_memo_id for r in list_credit_memos(session, limit=1, offset=1)] == [first.id]
    assert list_credit_memos(session, only_unapplied=True) == []


def test_credit_memo_money_left_over_is_listed_until_used(session, scene):
    s = scene
    solo_item = s.item[s.solo.id]
    post_receipt(session, party_id=s.solo.id, amount="25.00", received_date=s.today, method="check",
                 allocations={solo_item.invoice_id: D("25.00")}, actor=ACTOR)
    memo = create_credit_memo(session, batch_item_id=solo_item.id, encounter_ids=[s.s1.id], action="void",
                              reason="Paid twice", actor=ACTOR)
    (row,) = list_credit_memos(session, only_unapplied=True)
    assert (row.credit_memo_id, row.amount, row.unapplied) == (memo.id, D("25.00"), D("25.00"))
    make_encounter(session, s.solo, dos=s.today, amounts=("10.00",))
    later = create_on_demand_batch(session, party_id=s.solo.id, actor=ACTOR)
    allocate_credit(session, credit_memo_id=memo.id, allocations={later.items[0].invoice_id: D("10.00")}, actor=ACTOR)
    (row,) = list_credit_memos(session, only_unapplied=True)
    assert row.unapplied == D("15.00")


def test_history_rows_count_and_number_search_on_every_path(session, scene):
    s = scene
    base = s.item[s.alpha.id].invoice_number
    resent = rebatch(session, source_batch_id=s.group_batch.id, invoice_ids=[s.item[s.alpha.id].invoice_id],
                     actor=ACTOR)
    session.commit()
    assert invoice_history_count(session) == 4 == len(invoice_history(session))
    assert invoice_history_count(session, party_id=s.alpha.id) == 2
    assert invoice_history_count(session, status="paid") == 0
    assert invoice_history_count(session, status="all", number_contains=base) == 2
    assert invoice_history_count(session, number_contains=f"{base}-2") == 1
    # Three characters and more use SQLite's trigram index, shorter ones and wildcards the plain LIKE: the same
    # rows either way, and %, _ and \ are literal.
    digits = base[-3:]
    assert {r.invoice_number for r in invoice_history(session, number_contains=digits)} == {base, f"{base}-2"}
    assert {r.invoice_number for r in invoice_history(session, number_contains=base[-2:])} >= {base, f"{base}-2"}
    assert {r.invoice_number for r in invoice_history(session, number_contains=f" {base.lower()} ")} == \
        {base, f"{base}-2"}
    for wild in ("%", "_", "\\", '"', f"{base[:3]}_"):
        assert invoice_history(session, number_contains=wild) == []
        assert invoice_history_count(session, number_contains=wild) == 0
    # The trigram path with a party, a status and a page: newest first, a page at a time.
    assert [r.invoice_number for r in invoice_history(session, party_id=s.alpha.id, status="all",
                                                      number_contains=digits)] == [f"{base}-2", base]
    assert [r.invoice_number for r in invoice_history(session, status="all", number_contains=digits, limit=1,
                                                      offset=1)] == [base]
    assert invoice_history(session, party_id=s.alpha.id, status="paid", number_contains=digits) == []
    if session.get_bind().dialect.name == "sqlite":
        # This test database was never analyzed: the page still starts from the trigram index, newest first (without
        # statistics SQLite once chose to start from the open invoices, seconds on a busy practice's history).
        from core.history import _asked, _page_statement

        shape, values = _asked(session, None, "open", digits)
        compiled = _page_statement(shape).compile(session.get_bind())
        params = compiled.construct_params({**values, "limit": 100, "offset": 0})
        plan = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string,
                                                    tuple(params[k] for k in compiled.positiontup or ())).all()
        assert "batch_item_fts" in plan[1][3] and "SCAN" in plan[1][3], plan
    row = invoice_history(session, number_contains=f"{base}-2")[0]
    assert (row.invoice_number, row.base_number, row.times_batched, row.batch_number, row.batch_kind) == \
        (f"{base}-2", base, 2, resent.number, "rebatch")
    with pytest.raises(Exception, match="Status must be Open, Paid or All, not 'unpaid'"):
        invoice_history_count(session, status="unpaid")


def test_an_underscore_in_an_invoice_number_is_searched_as_itself(session, scene):
    from core import save_invoice_profile

    s = scene
    save_invoice_profile(session, actor=ACTOR, number_prefix="OM_")
    make_encounter(session, s.solo, dos=s.today, amounts=("5.00",))
    underscored = create_on_demand_batch(session, party_id=s.solo.id, actor=ACTOR).items[0].invoice_number
    save_invoice_profile(session, actor=ACTOR, number_prefix="OMX")
    make_encounter(session, s.solo, dos=s.today, amounts=("6.00",))
    create_on_demand_batch(session, party_id=s.solo.id, actor=ACTOR)
    for text in ("M_", "OM_", "om_0"):
        assert [r.invoice_number for r in invoice_history(session, number_contains=text)] == [underscored]
        assert invoice_history_count(session, number_contains=text) == 1


def test_a_credit_memo_is_listed_on_the_practices_day_not_the_servers(session, scene, monkeypatch):
    from datetime import UTC, datetime

    s = scene
    monkeypatch.setenv("TZ", "UTC")  # the server's zone (read on every call)
    set_time_zone(session, zone="Pacific/Kiritimati", actor=ACTOR)  # UTC+14
    at = datetime.combine(s.today, datetime.min.time(), tzinfo=UTC).replace(hour=20)
    create_credit_memo(session, batch_item_id=s.item[s.solo.id].id, encounter_ids=[s.s1.id], action="void",
                       reason="Late night", actor=ACTOR, as_of=at)
    assert list_credit_memos(session)[0].created_on == s.today + timedelta(days=1)


def test_credit_memos_list_a_hundred_by_default(session, scene):
    s = scene
    encounters = [make_encounter(session, s.solo, dos=s.today, amounts=("1.00",)) for _ in range(101)]
    item = create_on_demand_batch(session, party_id=s.solo.id, actor=ACTOR).items[0]
    for enc in encounters:
        create_credit_memo(session, batch_item_id=item.id, encounter_ids=[enc.id], action="void", reason="x",
                           actor=ACTOR)
    assert len(list_credit_memos(session)) == 100
    assert len(list_credit_memos(session, limit=101)) == 101


def test_history_rows_carry_their_party_and_page_from_the_newest(session, scene):
    s = scene
    rows = invoice_history(session, party_id=s.alpha.id)
    assert [(r.party_id, r.party_name, r.invoice_number) for r in rows] == \
        [(s.alpha.id, "Alpha Works", s.item[s.alpha.id].invoice_number)]
    every = invoice_history(session, status=None)  # no status given: the open invoices
    assert [r.batch_item_id for r in every] == sorted((r.batch_item_id for r in every), reverse=True)
    assert len(every) == 3
    assert [r.batch_item_id for r in invoice_history(session, limit=1, offset=1)] == [every[1].batch_item_id]
    assert invoice_history(session, limit=0) == []
    # A count below zero is refused in words on both databases (SQLite took LIMIT -5 as no limit at all).
    with pytest.raises(InvoiceDeskError, match=r"^Limit -5 is below zero; use 0 or more.$"):
        invoice_history(session, limit=-5)
    with pytest.raises(InvoiceDeskError, match=r"^Offset -1 is below zero; use 0 or more.$"):
        invoice_history(session, offset=-1)


def test_history_shows_a_hundred_rows_by_default(session, scene):
    group = make_group(session, "Big Group")
    for n in range(101):
        make_encounter(session, make_party(session, name=f"Site {n:03d}", group=group), dos=scene.today,
                       amounts=("1.00",))
    create_on_demand_batch(session, group_id=group.id, actor=ACTOR)
    assert len(invoice_history(session)) == 100 and invoice_history_count(session) == 104


def test_encounters_of_one_day_list_by_number(session, scene):
    s = scene
    second = make_encounter(session, s.solo, dos=s.today, amounts=("2.00",))
    first = make_encounter(session, s.solo, dos=s.today, amounts=("1.00",))
    session.execute(sa.update(Encounter.__table__).where(Encounter.__table__.c.id == first.id).values(number="A-1"))
    session.execute(sa.update(Encounter.__table__).where(Encounter.__table__.c.id == second.id).values(number="B-1"))
    batch = create_on_demand_batch(session, party_id=s.solo.id, actor=ACTOR)
    (item,) = batch_items(session, batch_id=batch.id)
    assert [e.number for e in item.encounters] == ["A-1", "B-1"]
