"""The demo practice tells the story a demo needs: what a visitor should find in it, checked in its rows."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import InvoiceDeskError, clock, current_profile, open_engine, set_invoice_billing
from core.demo import (
    ATTORNEYS,
    DEMO_DAY,
    GROUPS,
    INDEPENDENT,
    PROCEDURES,
    STEPS,
    demo_day,
    load_demo_data,
    prepare,
)
from core.models import Batch, ChargeLine, CreditMemo, Encounter, Invoice, Party, Receipt, Setting
from tests.conftest import module_engine

AS_OF = clock.today()  # the day the demo was written for: the practice's today when the fixture wrote it


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    engine = module_engine(request, tmp_path_factory, "demo")
    with Session(engine, expire_on_commit=False) as s:
        load_demo_data(s)
        s.commit()
        global AS_OF
        AS_OF = demo_day(s)  # a frozen test clock may start on another day than the one at import
        assert AS_OF == clock.today(s)
        yield s
    engine.dispose()


def day(value):
    """A date column read with raw SQL: a date on PostgreSQL, ISO text on SQLite."""
    return value if not isinstance(value, str) else datetime.fromisoformat(value).date()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_the_practice_its_parties_and_their_flaws(demo):
    profile = current_profile(demo)
    assert (profile.remit_to_name, profile.remit_to_address.splitlines(), profile.terms_days, profile.number_prefix,
            profile.total_by, profile.show_procedure_codes) == (
        "Riverbend Occupational Health", ["400 Clinic Way", "Suite 200", "Riverbend, OR 97401"], 30, "INV-",
        "patient", True)
    parties = demo.execute(sa.select(Party).order_by(Party.id)).scalars().all()
    assert len(parties) == len(GROUPS) * 5 + len(INDEPENDENT) + len(ATTORNEYS)
    for n, p in enumerate(parties, start=1):
        assert p.account_code == f"{'ATT' if p.kind == 'attorney' else 'EMP'}{n:03d}"
        assert p.state == "OR" and re.fullmatch(r"97[1-4]\d\d", p.postal_code) and p.email == f"billing{n}@example.com"
    assert [p.name for p in parties if p.kind == "attorney"] == ATTORNEYS
    assert [p.name for p in parties if p.group_id is None and p.kind == "employer"] == INDEPENDENT
    assert {p.city for p in parties} == {"Riverbend", "Eugene", "Salem", "Corvallis", ""}
    assert {re.sub(r"^\d+ ", "", p.address_line1) for p in parties if p.address_line1} <= \
        {"Oak St", "Pine St", "Main St", "Mill St"}
    # Two parties are not billable and one has no address: the preview explains why they are left out.
    assert [n for n, p in enumerate(parties) if not p.billable] == [3, 27]
    assert [n for n, p in enumerate(parties) if not p.address_line1] == [31]
    assert parties[31].city == ""


def test_a_year_of_encounters_with_charge_lines_that_add_up(demo):
    encounters = demo.execute(sa.select(Encounter.id, Encounter.number, Encounter.date_of_service,
                                        Encounter.post_date, Encounter.total_cents)).all()
    assert len(encounters) == 3000 and encounters[0].number == "E000001"
    assert min(e.date_of_service for e in encounters) >= AS_OF - timedelta(days=365)
    assert all(e.date_of_service <= e.post_date <= min(AS_OF, e.date_of_service + timedelta(days=6))
               for e in encounters)
    lines = demo.execute(sa.select(ChargeLine.encounter_id, ChargeLine.line_no, ChargeLine.procedure_code,
                                   ChargeLine.description, ChargeLine.units, ChargeLine.amount_cents)).all()
    prices = {code: (desc, int(amount.replace(".", ""))) for code, desc, amount in PROCEDURES}
    by_encounter: dict[int, list] = {}
    for line in lines:
        by_encounter.setdefault(line.encounter_id, []).append(line)
        desc, cents = prices[line.procedure_code]
        assert line.description == desc and line.units in (1, 2)
        assert line.amount_cents in (cents * line.units, 0)  # a rare no-charge courtesy visit
    for e in encounters:
        mine = by_encounter[e.id]
        assert sorted(line.line_no for line in mine) == list(range(1, len(mine) + 1)) and len(mine) <= 3
        assert e.total_cents == sum(line.amount_cents for line in mine)
    assert {len(v) for v in by_encounter.values()} == {1, 2, 3}
    assert {line.units for line in lines} == {1, 2}


def _wall(demo, moment: datetime) -> datetime:
    """A stored moment on the practice's wall clock: the demo writes its moments in the practice's hours."""
    return _utc(moment).astimezone(clock.zone(demo))


def test_month_end_runs_requests_and_second_notices(demo):
    batches = demo.execute(sa.select(Batch).order_by(Batch.number)).scalars().all()
    month_end = [b for b in batches if b.internal_note.startswith("Month-end run for ")]
    requested = [b for b in batches if b.internal_note == "Requested by employer HR"]
    notices = [b for b in batches if b.kind == "rebatch"]
    assert month_end and requested and notices
    assert len(month_end) + len(requested) + len(notices) == len(batches)
    for b in month_end:
        assert b.created_by == "maria.billing" and b.group_id is not None and b.kind == "on-demand"
        assert (_wall(demo, b.created_at).day, _wall(demo, b.created_at).hour) == (3, 10)
        assert b.dos_to == _wall(demo, b.created_at).date().replace(day=1) - timedelta(days=1)
    assert {b.internal_note.removeprefix("Month-end run for ") for b in month_end} == set(GROUPS)
    # Employers ask for invoices at month end and during the last week (the on-demand case), never today.
    this_week = [b for b in requested if _wall(demo, b.created_at).date() >= AS_OF - timedelta(days=6)]
    assert len(this_week) >= 2
    for b in requested:
        assert b.created_by == "sam.accounts" and b.party_id is not None
        assert _wall(demo, b.created_at).hour == 14 or b in this_week
    for b in this_week:
        assert AS_OF - timedelta(days=6) <= b.dos_to == _wall(demo, b.created_at).date() < AS_OF
    for b in notices:
        assert (b.internal_note, b.created_by) == ("Second notice", "maria.billing")
        assert _wall(demo, b.created_at).date() == AS_OF - timedelta(days=1)
        assert _wall(demo, b.created_at).hour in (16, 17, 18)
    # Batches were made in the order of their numbers, as a real office makes them.
    made = [_utc(b.created_at) for b in batches]
    assert made == sorted(made)
    # Nothing in the demo happened after the moment it was written.
    assert all(_utc(b.created_at) <= clock.now() for b in batches)
    # The article's case: an invoice paid in part, resent with its -2 suffix and what is still owed.
    assert demo.execute(sa.text(
        "SELECT count(*) FROM batch_item bi JOIN invoice i ON i.id = bi.invoice_id "
        "WHERE bi.times_batched = 2 AND i.payments_cents > 0 AND bi.balance_cents < i.billed_cents "
        "AND bi.balance_cents > 0")).scalar_one() > 0


def test_receipts_tell_of_prompt_payers_partial_payers_a_bounced_check_and_a_prepayment(demo):
    rows = demo.execute(sa.text(
        "SELECT r.id, r.amount_cents, r.applied_cents, r.received_date, r.method, r.reference, r.voided, "
        "r.void_reason, r.voided_at, r.created_at, r.note, i.first_sent_on, i.billed_cents "
        "FROM receipt r LEFT JOIN allocation a ON a.receipt_id = r.id "
        "LEFT JOIN invoice i ON i.id = a.invoice_id ORDER BY r.id")).all()
    prepayment = [r for r in rows if r.reference == "CHK 77120"]
    assert len(prepayment) == 1
    (pre,) = prepayment
    assert (pre.amount_cents, pre.applied_cents, day(pre.received_date), pre.note) == (
        25000, 0, AS_OF - timedelta(days=3), "Prepayment for next month's screens")
    paid = [r for r in rows if r.reference != "CHK 77120"]
    methods = {r.method for r in paid}
    assert methods == {"check", "ACH", "card"}
    for r in paid:
        prefix = {"check": "CHK", "ACH": "ACH", "card": "CARD"}[r.method]
        assert re.fullmatch(rf"{prefix} \d{{4,5}}", r.reference)
        received, sent = day(r.received_date), day(r.first_sent_on)
        assert sent + timedelta(days=8) <= received <= min(AS_OF - timedelta(days=1), sent + timedelta(days=55))
        assert _wall(demo, datetime.fromisoformat(str(r.created_at))).hour == 15
    partial = [r for r in paid if r.amount_cents < r.billed_cents]
    assert partial and all(r.billed_cents * 20 // 100 <= r.amount_cents <= r.billed_cents * 80 // 100
                           for r in partial)
    assert len(partial) < len(paid) // 4  # most pay in full
    voided = [r for r in rows if r.voided]
    assert len(voided) == 1 and voided[0].void_reason == "Check returned NSF by the bank"
    voided_at = _wall(demo, datetime.fromisoformat(str(voided[0].voided_at)))
    assert (voided_at.date(), voided_at.hour) == (day(voided[0].received_date) + timedelta(days=6), 9)
    # Invoices sent in the last 8 days have no payment yet (a check takes longer than that to arrive).
    assert demo.execute(sa.select(sa.func.count()).select_from(Invoice).where(
        Invoice.first_sent_on > AS_OF - timedelta(days=8), Invoice.payments_cents > 0)).scalar_one() == 0


def test_two_corrections_a_reassignment_and_a_void_after_payment(demo):
    memos = demo.execute(sa.select(CreditMemo).order_by(CreditMemo.id)).scalars().all()
    assert [(m.action, m.reason, m.created_by) for m in memos] == [
        ("reassign", "Injury happened at another employer's site", "maria.billing"),
        ("void", "Billed in error: the patient's own pre-employment screen", "maria.billing"),
        ("adjust", "Courtesy discount on a repeat screen", "maria.billing")]
    adjust = memos.pop()
    assert adjust.amount_cents == 1000 and adjust.applied_cents == 1000
    assert _wall(demo, adjust.created_at).date() == AS_OF - timedelta(days=2)
    for m in memos:
        assert _wall(demo, m.created_at) == datetime.combine(AS_OF - timedelta(days=5), datetime.min.time(),
                                                             clock.zone(demo)).replace(hour=10)
    reassign, void = memos
    target = demo.get(Party, reassign.reassign_to_party_id)
    first_billable = demo.execute(sa.select(Party.id).where(Party.id != reassign.party_id, Party.billable == sa.true())
                                  .order_by(Party.id).limit(1)).scalar_one()
    assert target.id == first_billable
    # The reassigned visit was on an invoice still open; the voided one on an invoice paid in full before.
    assert demo.execute(sa.text("SELECT count(*) FROM receipt r JOIN allocation a ON a.receipt_id = r.id "
                                "WHERE a.invoice_id = :i"), {"i": void.invoice_id}).scalar_one() >= 1
    assert void.applied_cents == 0 and void.amount_cents > 0  # all of it waits on account
    # The reassigned credit goes to the open invoice it came from, as far as that invoice still owed.
    assert 0 < reassign.applied_cents <= reassign.amount_cents


def test_a_short_payment_is_written_off_and_the_books_reconcile(demo):
    from core import reconcile
    from core.models import WriteOff

    [wo] = demo.execute(sa.select(WriteOff)).scalars().all()
    invoice = demo.get(Invoice, wo.invoice_id)
    assert (wo.reason, wo.note, wo.created_by) == ("short-pay", "Paid at the contract rate", "maria.billing")
    assert invoice.paid and invoice.payments_cents > 0 and invoice.writeoffs_cents == wo.amount_cents
    assert AS_OF - timedelta(days=90) < invoice.first_sent_on <= AS_OF - timedelta(days=31)
    assert reconcile(demo).ok, reconcile(demo).problems


def test_demo_data_goes_only_into_an_empty_database(demo):
    before = demo.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one()
    with pytest.raises(InvoiceDeskError) as caught:
        load_demo_data(demo)
    assert str(caught.value) == "The database already has bill-to parties; demo data goes into an empty one."
    demo.rollback()
    assert demo.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one() == before


def test_a_different_seed_is_a_different_practice(tmp_path, demo):
    engine = open_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with Session(engine) as s:
        load_demo_data(s, seed=8)
        s.commit()
        other = s.execute(sa.select(Encounter.total_cents).order_by(Encounter.id)).scalars().all()
    engine.dispose()
    mine = demo.execute(sa.select(Encounter.total_cents).order_by(Encounter.id)).scalars().all()
    assert len(other) == len(mine) and other != mine
    assert sum(mine) > 0 and Decimal(sum(mine)) / len(mine) > 50_00  # a visit averages more than $50


def test_the_demo_is_written_for_today_with_open_balances_of_every_age(demo):
    """On any day the demo looks like a live practice: recent invoices open, few old ones, batches this week."""
    assert demo_day(demo) == clock.today(demo)
    today = clock.today(demo)
    rows = demo.execute(sa.text("SELECT first_sent_on, due_on, balance_cents FROM invoice WHERE balance_cents > 0")).all()
    buckets = [0] * 5
    for sent, _, balance in rows:
        age = (today - day(sent)).days
        buckets[0 if age <= 30 else 1 if age <= 60 else 2 if age <= 90 else 3 if age <= 120 else 4] += balance
    sent = {day(r) for r in demo.execute(sa.select(Invoice.first_sent_on)).scalars()}
    has_invoices = [any(lo <= (today - d).days <= hi for d in sent)
                    for lo, hi in ((0, 30), (31, 60), (61, 90), (91, 120), (121, 10**6))]
    assert [bool(b) for b in buckets] == has_invoices, f"an aging bucket with invoices but no balance: {buckets}"
    assert buckets[0] == max(buckets) and sum(buckets[:2]) > sum(buckets) / 2, buckets
    not_due = [r for r in rows if day(r.due_on) >= today]
    assert len(not_due) >= len(rows) / 5, "most open invoices are not overdue yet"
    created = [_utc(m) for m in demo.execute(sa.select(Batch.created_at)).scalars()]
    assert sum(m >= clock.now() - timedelta(days=7) for m in created) >= 3, "batches in the last week"
    assert max(created) <= clock.now()


def test_a_demo_written_for_another_day_is_dated_from_that_day(tmp_path):
    """The demo moves with the calendar: written for a day 40 days ago, it ends the day before that one."""
    day_then = clock.today() - timedelta(days=40)
    engine = open_engine(f"sqlite:///{tmp_path / 'then.db'}")
    with Session(engine) as s:
        load_demo_data(s, as_of=day_then)
        s.commit()
        assert demo_day(s) == day_then
        last_visit = s.execute(sa.select(sa.func.max(Encounter.date_of_service))).scalar_one()
        last_batch = max(_wall(s, m) for m in s.execute(sa.select(Batch.created_at)).scalars())
        received = s.execute(sa.select(sa.func.max(Receipt.received_date))).scalar_one()
    engine.dispose()
    assert day_then - timedelta(days=7) < last_visit < day_then
    assert last_batch.date() == day_then - timedelta(days=1) and received < day_then


def _prepare(url: str, **kwargs) -> list[str]:
    said: list[str] = []
    prepare(url, say=said.append, **kwargs)
    return said


def _written_for(url: str) -> date | None:
    engine = open_engine(url)
    with Session(engine) as s:
        day_written = demo_day(s)
    engine.dispose()
    return day_written


def test_desk_start_writes_the_demo_for_today_with_progress_and_keeps_it(engine):
    """`./desk start`'s first step on an empty database (SQLite or a team's PostgreSQL), then on the next start."""
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    said = _prepare(url)
    assert said[0] == f"desk: writing the demo practice for {clock.today():%A, %B %-d, %Y}..."
    assert [line.split(" (")[0] for line in said[1:-1]] == [f"desk:   {n}/6 {name}" for n, name in
                                                             enumerate(STEPS, start=1)]
    assert said[-1].startswith("desk: the demo practice is ready (") and _written_for(url) == clock.today()
    again = _prepare(url)
    assert len(again) == 1 and again[0].endswith("holds the demo practice written for today.")


def test_a_demo_from_an_earlier_day_is_written_again_unless_a_manager_worked_in_it(tmp_path):
    path = tmp_path / "demo.db"
    url = f"sqlite:///{path}"
    engine = open_engine(url)
    with Session(engine) as s:
        load_demo_data(s, as_of=clock.today() - timedelta(days=3))
        s.commit()
    engine.dispose()
    said = _prepare(url)
    assert "kept it as demo.db.previous and writing a new one for today" in said[0]
    assert _written_for(url) == clock.today() and _written_for(f"sqlite:///{path}.previous") == clock.today() - \
        timedelta(days=3)
    # A manager's own work in an older demo is never thrown away unasked...
    engine = open_engine(url)
    with Session(engine) as s:
        s.get(Setting, DEMO_DAY).value = (clock.today() - timedelta(days=1)).isoformat()
        set_invoice_billing(s, enabled=True, actor="ana.manager")
        s.commit()
    engine.dispose()
    said = _prepare(url)
    assert len(said) == 1 and "and your changes; kept as it is (`./desk start --fresh`" in said[0]
    assert _written_for(url) == clock.today() - timedelta(days=1)
    # ...and --fresh writes a new one all the same.
    assert "writing a new one for today" in _prepare(url, fresh=True)[0] and _written_for(url) == clock.today()


_DIGESTS: dict[str, list] = {}


def test_the_demo_rows_are_the_same_on_both_databases(demo):
    """Same seed, same rows: the demo a visitor sees does not depend on the database under it."""
    queries = {
        "encounter": "SELECT id, number, patient_id, party_id, total_cents, voided FROM encounter ORDER BY id",
        "batch_item": "SELECT id, invoice_number, party_id, billed_cents, payments_cents, credits_cents, balance_cents "
                      "FROM batch_item ORDER BY id",
        "receipt": "SELECT id, number, party_id, amount_cents, applied_cents, voided FROM receipt ORDER BY id",
        "allocation": "SELECT id, invoice_id, receipt_id, credit_memo_id, amount_cents, live FROM allocation ORDER BY id",
        "credit_memo": "SELECT id, number, invoice_id, amount_cents, applied_cents FROM credit_memo ORDER BY id",
    }
    rows = [[tuple(int(v) if isinstance(v, bool) else v for v in r) for r in demo.execute(sa.text(q))]
            for q in queries.values()]
    _DIGESTS[demo.get_bind().dialect.name] = rows
    if len(_DIGESTS) < 2:
        pytest.skip("compared when the second database's demo is loaded")
    for name, a, b in zip(queries, _DIGESTS["sqlite"], _DIGESTS["postgresql"], strict=True):
        assert a == b, f"{name} rows differ between SQLite and PostgreSQL"
