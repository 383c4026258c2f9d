"""Rules at their edges: aging buckets, the overdue day, date filters, unapplied lists, preview reasons,
literal search characters and the migration lock. Expected figures are worked out by hand in each test."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from core import (
    allocate_credit,
    allocate_receipt,
    clock,
    create_credit_memo,
    create_on_demand_batch,
    headline,
    invoice_history,
    invoice_totals,
    list_batches,
    list_credit_memos,
    list_receipts,
    navigate,
    open_aging,
    party_account,
    post_receipt,
    preview_on_demand_batch,
    save_invoice_profile,
    search_groups,
    search_parties,
    set_time_zone,
    void_receipt,
)
from core.db import head_revision, open_engine
from core.models import Invoice, InvoiceLine
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party
from tests.support.fingerprint import assert_refused_unchanged, fingerprint

D = Decimal
HONOLULU = ZoneInfo("Pacific/Honolulu")  # UTC-10 all year: 23:30 there is 09:30 the next day in UTC
ROOT = Path(__file__).resolve().parents[1]


def _noon_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _honolulu(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HONOLULU).astimezone(UTC)


def _practice(session, zone: str = "Pacific/Honolulu") -> None:
    billing_on(session)
    set_time_zone(session, zone=zone, actor=ACTOR)


def _send(session, party, amount: str, sent: date) -> int:
    """One invoice for one new encounter of the party, first sent on that practice day; its invoice id."""
    make_encounter(session, party, dos=sent - timedelta(days=1), amounts=(amount,))
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=_noon_utc(sent))
    (item,) = batch.items
    return item.invoice_id


def _pay(session, party, invoice_id: int, amount: str, on: date) -> None:
    post_receipt(session, party_id=party.id, amount=amount, received_date=on, method="check",
                 allocations={invoice_id: D(amount)}, actor=ACTOR, as_of=_noon_utc(on))


# ---------- 1. aging buckets by days since first sent ----------

def test_aging_places_each_boundary_day_in_its_bucket(session):
    _practice(session)
    as_of = date(2026, 6, 30)
    party, other = make_party(session), make_party(session)
    ages = {0: "1.01", 30: "2.02", 31: "4.04", 60: "8.08", 61: "16.16", 90: "32.32", 91: "64.64",
            120: "128.28", 121: "256.56"}
    invoices = {age: _send(session, party, amount, as_of - timedelta(days=age)) for age, amount in ages.items()}
    # A fully paid invoice leaves the aging; a partly paid one ages with what is still owed.
    paid = _send(session, party, "500.00", as_of - timedelta(days=10))
    _pay(session, party, paid, "500.00", as_of)
    _pay(session, party, invoices[60], "3.00", as_of)  # 8.08 - 3.00 = 5.08 still owed
    _send(session, other, "700.00", as_of - timedelta(days=45))
    session.commit()
    sent = dict(session.execute(sa.select(Invoice.id, Invoice.first_sent_on)).all())
    assert {age: sent[i] for age, i in invoices.items()} == {age: as_of - timedelta(days=age) for age in ages}

    mine = {"0-30": D("3.03"), "31-60": D("9.12"), "61-90": D("48.48"), "91-120": D("192.92"),
            "over 120": D("256.56")}
    assert party_account(session, party_id=party.id, as_of=as_of).aging == mine
    assert party_account(session, party_id=party.id, as_of=as_of).open_balance == D("510.11")
    assert open_aging(session, party_id=party.id, today=as_of) == mine
    assert open_aging(session, today=as_of) == {**mine, "31-60": D("709.12")}
    # A day later every boundary invoice has moved on: day 30 becomes 31, day 60 becomes 61, ...
    assert open_aging(session, party_id=party.id, today=as_of + timedelta(days=1)) == {
        "0-30": D("1.01"), "31-60": D("6.06"), "61-90": D("21.24"), "91-120": D("96.96"), "over 120": D("384.84")}


# ---------- 2. overdue from the day after the due date ----------

def test_overdue_starts_the_day_after_the_due_date_in_the_practice_zone(session, time_machine):
    _practice(session)
    save_invoice_profile(session, actor=ACTOR, terms_days=14)
    party = make_party(session)
    time_machine.move_to(_honolulu(date(2026, 3, 1), 9), tick=False)
    settled = _send_now(session, party, "80.00")
    post_receipt(session, party_id=party.id, amount="80.00", received_date=date(2026, 3, 1), method="check",
                 allocations={settled: D("80.00")}, actor=ACTOR)
    time_machine.move_to(_honolulu(date(2026, 4, 1), 16), tick=False)
    first = _send_now(session, party, "100.00")  # due 2026-04-15
    post_receipt(session, party_id=party.id, amount="40.00", received_date=date(2026, 4, 1), method="check",
                 allocations={first: D("40.00")}, actor=ACTOR)
    time_machine.move_to(_honolulu(date(2026, 4, 2), 23, 30), tick=False)  # 2026-04-03 09:30 UTC
    second = _send_now(session, party, "250.00")  # due 2026-04-16
    session.commit()
    due = dict(session.execute(sa.select(Invoice.id, Invoice.due_on)).all())
    assert (due[first], due[second]) == (date(2026, 4, 15), date(2026, 4, 16))

    def overdue_now():
        flags = {r.invoice_id: "overdue" in r.flags for r in invoice_history(session, status="all")}
        totals = {i: invoice_totals(session, i).overdue for i in (settled, first, second)}
        assert flags == totals, "history flags and invoice totals must agree"
        h = headline(session)
        return [i for i in (settled, first, second) if totals[i]], h.overdue_invoices, h.overdue_balance

    # Due day, last minutes in Honolulu (already the next day in UTC): nothing is overdue yet.
    time_machine.move_to(_honolulu(date(2026, 4, 15), 23, 30), tick=False)
    assert overdue_now() == ([], 0, D("0.00"))
    # Just after midnight the first invoice is overdue for its open 60.00; the second is due today.
    time_machine.move_to(_honolulu(date(2026, 4, 16), 0, 30), tick=False)
    assert overdue_now() == ([first], 1, D("60.00"))
    assert invoice_totals(session, first).flags == ["partially paid", "overdue"]
    time_machine.move_to(_honolulu(date(2026, 4, 17), 0, 30), tick=False)
    assert overdue_now() == ([first, second], 2, D("310.00"))


def _send_now(session, party, amount: str) -> int:
    make_encounter(session, party, dos=date(2026, 2, 1), amounts=(amount,))
    (item,) = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items
    return item.invoice_id


# ---------- 4. the batch list's date filter includes its first and last day ----------

def test_batch_list_dates_include_first_and_last_practice_day(session, time_machine):
    _practice(session)
    party = make_party(session)
    day = date(2026, 7, 15)
    moments = {"day before, 23:59": _honolulu(day - timedelta(days=1), 23, 59), "00:00": _honolulu(day, 0),
               "23:30": _honolulu(day, 23, 30), "23:59": _honolulu(day, 23, 59),
               "day after, 00:00": _honolulu(day + timedelta(days=1), 0)}
    numbers = {}
    for label, moment in moments.items():
        time_machine.move_to(moment, tick=False)
        make_encounter(session, party, dos=date(2026, 7, 1))
        numbers[create_on_demand_batch(session, party_id=party.id, actor=ACTOR).number] = label
    session.commit()

    def listed(**filters):
        return {numbers[r.number] for r in list_batches(session, **filters)}

    on_the_day = {"00:00", "23:30", "23:59"}
    assert listed(created_from=day, created_to=day) == on_the_day
    assert listed(created_from=day) == on_the_day | {"day after, 00:00"}
    assert listed(created_to=day) == on_the_day | {"day before, 23:59"}
    assert listed(created_from=day + timedelta(days=1), created_to=day + timedelta(days=1)) == {"day after, 00:00"}


# ---------- 5. only_unapplied lists ----------

def test_only_unapplied_receipts_are_those_with_money_left(session):
    _practice(session, "UTC")
    party, other = make_party(session), make_party(session)
    today = clock.today(session)
    inv1, inv2, inv3 = (_send_now(session, party, a) for a in ("100.00", "200.00", "300.00"))

    def post(amount, allocations=None, payer=party):
        return post_receipt(session, party_id=payer.id, amount=amount, received_date=today, method="check",
                            allocations=allocations, actor=ACTOR).id

    full = post("100.00", {inv1: D("100.00")})
    partial = post("150.00", {inv2: D("60.00")})  # 90.00 left
    untouched = post("45.67")
    voided_unapplied = post("30.00")
    voided_applied = post("50.00", {inv2: D("50.00")})
    used_up_later = post("80.00", {inv3: D("30.00")})
    some_used_later = post("70.00", {inv3: D("10.00")})
    theirs = post("12.34", payer=other)
    void_receipt(session, receipt_id=voided_unapplied, reason="Check returned NSF", actor=ACTOR)
    void_receipt(session, receipt_id=voided_applied, reason="Stopped payment", actor=ACTOR)
    allocate_receipt(session, receipt_id=used_up_later, allocations={inv3: D("50.00")}, actor=ACTOR)
    allocate_receipt(session, receipt_id=some_used_later, allocations={inv3: D("15.00")}, actor=ACTOR)  # 45.00 left
    session.commit()

    mine = {r.receipt_id: r.unapplied for r in list_receipts(session, party_id=party.id, only_unapplied=True)}
    assert mine == {partial: D("90.00"), untouched: D("45.67"), some_used_later: D("45.00")}
    everyone = {r.receipt_id: r.unapplied for r in list_receipts(session, only_unapplied=True)}
    assert everyone == {**mine, theirs: D("12.34")}
    assert len(list_receipts(session, party_id=party.id)) == 7  # the filter, not the data, leaves four out
    assert full not in mine


def test_only_unapplied_credit_memos_are_those_with_credit_left(session):
    _practice(session, "UTC")
    party = make_party(session)
    today = clock.today(session)

    def invoice(*amounts):
        encounters = [make_encounter(session, party, amounts=(a,)) for a in amounts]
        (item,) = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items
        return item, [e.id for e in encounters]

    def pay(item, amount):
        post_receipt(session, party_id=party.id, amount=amount, received_date=today, method="check",
                     allocations={item.invoice_id: D(amount)}, actor=ACTOR)

    def credit(item, encounter_id):
        return create_credit_memo(session, batch_item_id=item.id, encounter_ids=[encounter_id], action="void",
                                  reason="Billed in error", actor=ACTOR).id

    x, (x1, _) = invoice("100.00", "50.00")
    y, (_, y2) = invoice("80.00", "40.00")
    z, (z1,) = invoice("25.00")
    w, (w1, _) = invoice("10.00", "5.00")
    pay(x, "120.00")  # X owes 30.00
    pay(z, "25.00")  # Z paid
    pay(w, "12.00")  # W owes 3.00
    cm_x = credit(x, x1)  # 100.00: 30.00 pays X, 70.00 left
    allocate_credit(session, credit_memo_id=cm_x, allocations={y.invoice_id: D("20.00")}, actor=ACTOR)  # 50.00 left
    cm_y = credit(y, y2)  # 40.00 all on Y (it owed 100.00)
    cm_z = credit(z, z1)  # 25.00 all left over...
    allocate_credit(session, credit_memo_id=cm_z, allocations={y.invoice_id: D("25.00")}, actor=ACTOR)  # ...then used
    cm_w = credit(w, w1)  # 10.00: 3.00 pays W, 7.00 left
    session.commit()

    left = {r.credit_memo_id: r.unapplied for r in list_credit_memos(session, only_unapplied=True)}
    assert left == {cm_x: D("50.00"), cm_w: D("7.00")}
    assert {r.credit_memo_id for r in list_credit_memos(session)} == {cm_x, cm_y, cm_z, cm_w}
    assert invoice_totals(session, y.invoice_id).balance_due == D("35.00")  # 120 - 20 - 40 - 25


# ---------- 6. what the preview leaves out, and why ----------

def test_preview_lists_every_reason_and_the_batch_follows_it(session):
    _practice(session, "UTC")
    group = make_group(session)
    alpha = make_party(session, name="Alpha Works", group=group)
    bravo = make_party(session, name="Bravo Not Billable", group=group, billable=False)
    charlie = make_party(session, name="Charlie No Address", group=group, address=False)
    invoiced = make_encounter(session, alpha, dos=date(2026, 3, 5), post=date(2026, 3, 6), amounts=("70.00",))
    create_on_demand_batch(session, party_id=alpha.id, actor=ACTOR)
    first_day = make_encounter(session, alpha, dos=date(2026, 3, 1), post=date(2026, 3, 5), amounts=("100.00",))
    last_day = make_encounter(session, alpha, dos=date(2026, 3, 31), post=date(2026, 4, 10),
                              amounts=("20.00", "5.25"))
    zero = make_encounter(session, alpha, dos=date(2026, 3, 10), amounts=("0.00",))
    make_encounter(session, alpha, dos=date(2026, 3, 12), amounts=("55.00",), voided=True)
    make_encounter(session, alpha, dos=date(2026, 2, 28), post=date(2026, 3, 6), amounts=("33.00",))
    make_encounter(session, alpha, dos=date(2026, 4, 1), post=date(2026, 4, 1), amounts=("11.00",))
    make_encounter(session, alpha, dos=date(2026, 3, 20), post=date(2026, 4, 11), amounts=("22.00",))
    make_encounter(session, alpha, dos=date(2026, 3, 2), post=date(2026, 3, 4), amounts=("17.00",))
    make_encounter(session, bravo, dos=date(2026, 3, 3), amounts=("40.00",))
    make_encounter(session, bravo, dos=date(2026, 3, 13), post=date(2026, 3, 14), amounts=("60.00",))
    make_encounter(session, bravo, dos=date(2026, 3, 13), post=date(2026, 3, 14), amounts=("9.99",), voided=True)
    make_encounter(session, charlie, dos=date(2026, 3, 15), post=date(2026, 3, 15), amounts=("30.00",))
    session.commit()
    ranges = dict(dos_from=date(2026, 3, 1), dos_to=date(2026, 3, 31), post_from=date(2026, 3, 5),
                  post_to=date(2026, 4, 10))

    before = fingerprint(session.get_bind())
    preview = preview_on_demand_batch(session, group_id=group.id, **ranges)
    session.commit()
    assert fingerprint(session.get_bind()) == before, "a preview writes nothing"
    assert [(p.party_id, p.encounter_count, p.total) for p in preview.parties] == [(alpha.id, 2, D("125.25"))]
    assert (preview.invoice_count, preview.encounter_count, preview.total) == (1, 2, D("125.25"))
    assert {(e.party_id, e.reason, e.encounter_count, e.total) for e in preview.excluded} == {
        (alpha.id, "already invoiced", 1, D("70.00")),
        (alpha.id, "zero total", 1, D("0.00")),
        (alpha.id, "voided", 1, D("55.00")),
        (alpha.id, "outside DOS range", 2, D("44.00")),
        (alpha.id, "outside post date range", 2, D("39.00")),
        (bravo.id, "party not billable", 2, D("100.00")),
        (bravo.id, "voided", 1, D("9.99")),
        (charlie.id, "missing address", 1, D("30.00")),
    }

    batch = create_on_demand_batch(session, group_id=group.id, actor=ACTOR, **ranges)
    session.commit()
    (item,) = batch.items
    assert (item.party_id, item.billed) == (alpha.id, D("125.25"))
    on_invoice = set(session.execute(sa.select(InvoiceLine.encounter_id).where(
        InvoiceLine.invoice_id == item.invoice_id)).scalars())
    assert on_invoice == {first_day.id, last_day.id}
    live = set(session.execute(sa.select(InvoiceLine.encounter_id).where(InvoiceLine.live == sa.true())).scalars())
    assert live == {invoiced.id, first_day.id, last_day.id} and zero.id not in live
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=charlie.id, actor=ACTOR),
                             match="1 missing address")
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, group_id=group.id, actor=ACTOR,
                                                                     **ranges),
                             match=r"outside post date range")


# ---------- 7. searches take %, _ and \ literally ----------

def test_searches_match_percent_underscore_and_backslash_literally(session):
    _practice(session, "UTC")
    odd = make_party(session, name="50% Off_Co")
    near = make_party(session, name="500 Off Co")
    slash = make_party(session, name="Back\\Slash Ltd")
    make_party(session, name="Plain Employer")
    odd_group, near_group = make_group(session, "50% Off_Group"), make_group(session, "500 Off Group")

    def parties(text):
        return {p.id for p in search_parties(session, text=text, limit=100)}

    def groups(text):
        return {g.id for g in search_groups(session, text=text, limit=100)}

    assert parties("50%") == {odd.id} and parties("f_C") == {odd.id} and parties("F_c") == {odd.id}
    assert parties("%") == {odd.id} and parties("_") == {odd.id}
    assert parties("k\\S") == {slash.id} and parties("\\") == {slash.id}
    assert parties("off") == {odd.id, near.id}  # the ordinary contains-search still works
    assert groups("50%") == {odd_group.id} and groups("f_G") == {odd_group.id} and groups("%") == {odd_group.id}
    assert groups("500") == {near_group.id}

    save_invoice_profile(session, actor=ACTOR, number_prefix="AXB-")
    plain = _send_now(session, near, "10.00")
    save_invoice_profile(session, actor=ACTOR, number_prefix="A_B-")
    marked = _send_now(session, near, "20.00")
    session.commit()

    def numbers(text):
        return {r.invoice_id for r in invoice_history(session, status="all", number_contains=text)}

    assert numbers("A_B") == {marked} and numbers("a_b-0") == {marked} and numbers("_") == {marked}
    assert numbers("%") == set() and numbers("\\") == set()
    assert numbers("B-0") == {plain, marked}

    assert navigate(session, text="f_C").party_id == odd.id
    assert navigate(session, text="50%").party_id == odd.id
    assert navigate(session, text="%").party_id == odd.id  # one party, not every party
    found = navigate(session, text="A_B")
    assert found.kind == "invoices" and {r.invoice_id for r in found.invoices} == {marked}
    assert navigate(session, text="%_%").kind == "nothing"


# ---------- 8. the migration lock on PostgreSQL ----------

def test_open_engine_waits_for_the_migration_lock(pg_engine):
    url = pg_engine.url.render_as_string(hide_password=False)
    done, failed = threading.Event(), []

    def second_server():
        try:
            open_engine(url).dispose()
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            failed.append(exc)
        finally:
            done.set()

    with pg_engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_xact_lock(7274201)"))
        thread = threading.Thread(target=second_server, daemon=True)
        thread.start()
        time.sleep(1.2)
        assert not done.is_set(), "open_engine migrated while another server held the migration lock"
        holder.rollback()  # ends the transaction, which releases the lock
    assert done.wait(30), "open_engine did not finish after the lock was released"
    assert failed == []


def test_several_servers_starting_at_once_migrate_once(pg_cluster):
    name = f"fresh_{uuid.uuid4().hex[:10]}"
    url = pg_cluster.create_database(name)
    script = "import sys; from core.db import open_engine; open_engine(sys.argv[1]).dispose()"
    servers = [subprocess.Popen([sys.executable, "-c", script, url], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [server.communicate(timeout=180)[1] for server in servers]
    assert [server.returncode for server in servers] == [0, 0, 0, 0], [err[-2000:] for err in errors]
    engine = sa.create_engine(url)
    try:
        with Session(engine) as s:
            assert s.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    finally:
        engine.dispose()

