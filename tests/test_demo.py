"""The demo practice tells the story a demo needs: what a visitor should find in it, checked in its rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import InvoiceDeskError, current_profile, open_engine
from core.demo import ATTORNEYS, DEMO_AS_OF, GROUPS, INDEPENDENT, PROCEDURES, load_demo_data
from core.models import Batch, ChargeLine, CreditMemo, Encounter, Invoice, Party, Receipt
from tests.conftest import module_engine

AS_OF = DEMO_AS_OF


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    engine = module_engine(request, tmp_path_factory, "demo")
    with Session(engine, expire_on_commit=False) as s:
        load_demo_data(s)
        s.commit()
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


def test_month_end_runs_requests_and_second_notices(demo):
    batches = demo.execute(sa.select(Batch).order_by(Batch.number)).scalars().all()
    month_end = [b for b in batches if b.internal_note.startswith("Month-end run for ")]
    requested = [b for b in batches if b.internal_note == "Requested by employer HR"]
    notices = [b for b in batches if b.kind == "rebatch"]
    assert month_end and requested and notices
    assert len(month_end) + len(requested) + len(notices) == len(batches)
    for b in month_end:
        assert b.created_by == "maria.billing" and b.group_id is not None and b.kind == "on-demand"
        assert (_utc(b.created_at).day, _utc(b.created_at).hour) == (3, 10)
        assert b.dos_to == _utc(b.created_at).date().replace(day=1) - timedelta(days=1)
    assert {b.internal_note.removeprefix("Month-end run for ") for b in month_end} == set(GROUPS)
    for b in requested:
        assert b.created_by == "sam.accounts" and b.party_id is not None and _utc(b.created_at).hour == 14
    for b in notices:
        assert (b.internal_note, b.created_by) == ("Second notice", "maria.billing")
        assert _utc(b.created_at).date() == AS_OF - timedelta(days=1) and _utc(b.created_at).hour in (16, 17, 18)
    assert {_utc(b.created_at).hour for b in notices} == {16, 17, 18}
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
        assert sent <= AS_OF - timedelta(days=25)
        assert sent + timedelta(days=8) <= received <= min(AS_OF - timedelta(days=1), sent + timedelta(days=55))
        assert _utc(datetime.fromisoformat(str(r.created_at))).hour == 15
    partial = [r for r in paid if r.amount_cents < r.billed_cents]
    assert partial and all(r.billed_cents * 20 // 100 <= r.amount_cents <= r.billed_cents * 80 // 100
                           for r in partial)
    assert len(partial) < len(paid) // 4  # most pay in full
    voided = [r for r in rows if r.voided]
    assert len(voided) == 1 and voided[0].void_reason == "Check returned NSF by the bank"
    voided_at = _utc(datetime.fromisoformat(str(voided[0].voided_at)))
    assert (voided_at.date(), voided_at.hour) == (day(voided[0].received_date) + timedelta(days=6), 9)
    # Invoices sent in the last 25 days have no payment yet; a quarter or so of older ones none either.
    assert demo.execute(sa.select(sa.func.count()).select_from(Invoice).where(
        Invoice.first_sent_on > AS_OF - timedelta(days=25), Invoice.payments_cents > 0)).scalar_one() == 0


def test_two_corrections_a_reassignment_and_a_void_after_payment(demo):
    memos = demo.execute(sa.select(CreditMemo).order_by(CreditMemo.id)).scalars().all()
    assert [(m.action, m.reason, m.created_by) for m in memos] == [
        ("reassign", "Injury happened at another employer's site", "maria.billing"),
        ("void", "Billed in error: the patient's own pre-employment screen", "maria.billing")]
    for m in memos:
        assert _utc(m.created_at) == datetime.combine(AS_OF - timedelta(days=5), datetime.min.time(), UTC).replace(hour=10)
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
