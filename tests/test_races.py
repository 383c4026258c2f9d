"""Two managers at the same moment, interleaved deterministically, on SQLite and on PostgreSQL (issue 9).

Each test runs the first action in session A and keeps its transaction open (its locks held), starts the
second action in session B on another thread, checks that B is *waiting* (it queued behind A's locks
instead of reading what A is about to change), then commits A. B then finishes with a clear refusal or a
correct result, and the ledger's invariants hold in SQL (tests/support/invariants.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import (
    InvoiceDeskError,
    allocate_receipt,
    create_credit_memo,
    create_on_demand_batch,
    import_csv,
    post_receipt,
    rebatch,
    void_receipt,
)
from core.db import new_session, transaction
from core.models import Batch, BatchItem, Invoice, InvoiceLine
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party
from tests.support.invariants import ledger_problems

HOLD = 0.6  # seconds B must still be waiting while A holds its locks


@dataclass
class Outcome:
    first: object = None
    second: object = None
    refused: InvoiceDeskError | None = None
    crashed: BaseException | None = None
    waited: bool = False
    log: list[str] = field(default_factory=list)


def interleave(engine, first, second) -> Outcome:
    """Run first() in session A and hold it; start second() in session B; commit A; let B finish."""
    out = Outcome()
    a = new_session(engine)
    try:
        out.first = first(a)
        a.flush()

        def run_b():
            try:
                with transaction(engine) as b:
                    out.second = second(b)
            except InvoiceDeskError as exc:
                out.refused = exc
            except BaseException as exc:  # noqa: BLE001 - reported by the test, never swallowed
                out.crashed = exc

        thread = threading.Thread(target=run_b, daemon=True)
        thread.start()
        thread.join(HOLD)
        out.waited = thread.is_alive()
        a.commit()
    finally:
        a.close()
    thread.join(60)
    assert not thread.is_alive(), "the second session never finished"
    assert out.crashed is None, f"the second session crashed with a raw error: {out.crashed!r}"
    assert out.waited, "the second session did not wait for the first's locks: it read before locking"
    problems = ledger_problems(engine)
    assert problems == [], problems
    return out


def _setup(engine, build):
    with transaction(engine) as s:
        billing_on(s)
        return build(s)


def _batch_for(engine, party_id: int) -> Batch:
    with transaction(engine) as s:
        return create_on_demand_batch(s, party_id=party_id, actor=ACTOR)


def _invoice(engine, batch: Batch) -> Invoice:
    with transaction(engine) as s:
        return s.execute(sa.select(Invoice).where(Invoice.batch_id == batch.id)).scalar_one()


def _one_invoice(engine, amount: str = "400.00"):
    party = _setup(engine, lambda s: _party_with(s, [amount]))
    batch = _batch_for(engine, party.id)
    return party, batch, _invoice(engine, batch)


def _party_with(s, amounts: list[str], group=None):
    party = make_party(s, group=group)
    for amount in amounts:
        make_encounter(s, party, amounts=(amount,))
    return party


def _money(engine, invoice_id: int) -> tuple[int, int, int, bool]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(Invoice.payments_cents, Invoice.credits_cents, Invoice.balance_cents,
                                     Invoice.paid).where(Invoice.id == invoice_id)).one()
    return tuple(row)


def _count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.parametrize("void_first", [True, False], ids=["void-then-post", "post-then-void"])
def test_a_payment_posted_while_another_is_voided_stays_on_the_invoice(engine, void_first):
    party, _, invoice = _one_invoice(engine)
    with transaction(engine) as s:
        bounced = post_receipt(s, party_id=party.id, amount="100.00", received_date=date.today(), method="check",
                               allocations={invoice.id: Decimal("100.00")}, actor=ACTOR)

    def void(s):
        return void_receipt(s, receipt_id=bounced.id, reason="NSF", actor=ACTOR)

    def post(s):
        return post_receipt(s, party_id=party.id, amount="150.00", received_date=date.today(), method="check",
                            allocations={invoice.id: Decimal("150.00")}, actor=ACTOR)

    out = interleave(engine, void, post) if void_first else interleave(engine, post, void)
    assert out.refused is None
    assert _money(engine, invoice.id) == (15000, 0, 25000, False)


def test_two_batches_for_one_party_make_one_invoice(engine):
    party = _setup(engine, lambda s: _party_with(s, ["100.00", "250.00"]))

    def create(s):
        return create_on_demand_batch(s, party_id=party.id, actor=ACTOR)

    out = interleave(engine, create, create)
    assert out.refused is not None and "Nothing to invoice" in str(out.refused)
    assert "already invoiced" in str(out.refused)
    assert _count(engine, Batch) == 1 and _count(engine, Invoice) == 1
    assert out.first.total == Decimal("350.00")


@pytest.mark.parametrize("group_first", [True, False], ids=["group-then-party", "party-then-group"])
def test_a_party_batch_and_a_group_batch_that_covers_it_never_bill_a_visit_twice(engine, group_first):
    def build(s):
        group = make_group(s)
        return group, _party_with(s, ["100.00"], group), _party_with(s, ["40.00"], group)

    group, first_party, second_party = _setup(engine, build)

    def by_group(s):
        return create_on_demand_batch(s, group_id=group.id, actor=ACTOR)

    def by_party(s):
        return create_on_demand_batch(s, party_id=first_party.id, actor=ACTOR)

    if group_first:
        out = interleave(engine, by_group, by_party)
        assert out.refused is not None and "Nothing to invoice" in str(out.refused)
        assert out.first.invoice_count == 2
    else:
        out = interleave(engine, by_party, by_group)
        assert out.refused is None
        # The group's batch sends only what the party's batch left: the second party's visit.
        assert (out.second.invoice_count, out.second.total) == (1, Decimal("40.00"))
    assert _count(engine, InvoiceLine) == 2 and _count(engine, Invoice) == 2


@pytest.mark.parametrize("pay_first", [True, False], ids=["pay-then-rebatch", "rebatch-then-pay"])
def test_a_rebatch_racing_the_payment_that_settles_its_invoice(engine, pay_first):
    party, batch, invoice = _one_invoice(engine)

    def pay(s):
        return post_receipt(s, party_id=party.id, amount="400.00", received_date=date.today(), method="ACH",
                            allocations={invoice.id: Decimal("400.00")}, actor=ACTOR)

    def resend(s):
        return rebatch(s, source_batch_id=batch.id, actor=ACTOR)

    if pay_first:
        out = interleave(engine, pay, resend)
        assert out.refused is not None and "are paid, so nothing was resent" in str(out.refused)
        assert _count(engine, Batch) == 1
    else:
        out = interleave(engine, resend, pay)
        assert out.refused is None
        assert out.first.invoice_count == 1 and out.first.total == Decimal("400.00")
    assert _money(engine, invoice.id) == (40000, 0, 0, True)


def _encounters_csv(party_code: str, rows: list[tuple[str, str, str]]) -> str:
    head = ("encounter_number,patient_account,patient_name,party_account_code,date_of_service,post_date,"
            "procedure_code,description,units,amount\n")
    return head + "".join(f"{number},{patient},Pat {patient},{party_code},2026-03-10,2026-03-10,99213,Visit,1,{amount}\n"
                          for number, patient, amount in rows)


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch-then-import", "import-then-batch"])
def test_an_import_that_changes_charges_while_the_visit_is_invoiced(engine, batch_first):
    def build(s):
        party = make_party(s)
        return party, make_encounter(s, party, amounts=("100.00",))

    party, encounter = _setup(engine, build)
    with engine.connect() as conn:
        patient = conn.execute(sa.text("SELECT p.account FROM patient p JOIN encounter e ON e.patient_id = p.id "
                                       "WHERE e.id = :id"), {"id": encounter.id}).scalar_one()
    csv = _encounters_csv(party.account_code, [(encounter.number, patient, "175.00")])

    def create(s):
        return create_on_demand_batch(s, party_id=party.id, actor=ACTOR)

    def change(s):
        return import_csv(s, kind="encounters", data=csv, actor=ACTOR)

    if batch_first:
        out = interleave(engine, create, change)
        assert out.second.errors and "is on invoice" in str(out.second.errors[0])
        assert out.first.total == Decimal("100.00")
    else:
        out = interleave(engine, change, create)
        assert out.first.updated == 1
        # The batch read the charges after the import committed: it bills what its lines list.
        assert out.second.total == Decimal("175.00")


def test_two_imports_of_the_same_new_patients(engine):
    party = _setup(engine, lambda s: make_party(s))
    csv = _encounters_csv(party.account_code, [(f"RACE{i}", f"NEWPAT{i}", "80.00") for i in range(5)])

    def load(s):
        return import_csv(s, kind="encounters", data=csv, actor=ACTOR)

    out = interleave(engine, load, load)
    assert out.first.created == 5 and out.first.ok
    assert out.second.ok and (out.second.created, out.second.unchanged) == (0, 5)


def test_two_credit_memos_on_one_encounter(engine):
    party = _setup(engine, lambda s: _party_with(s, ["100.00", "60.00"]))
    batch = _batch_for(engine, party.id)
    with transaction(engine) as s:
        item_id, encounter_id = s.execute(
            sa.select(BatchItem.id, InvoiceLine.encounter_id).join(InvoiceLine, InvoiceLine.invoice_id == BatchItem.invoice_id)
            .where(BatchItem.batch_id == batch.id).order_by(InvoiceLine.encounter_id)).first()

    def credit(s):
        return create_credit_memo(s, batch_item_id=item_id, encounter_ids=[encounter_id], action="void",
                                  reason="Billed in error", actor=ACTOR)

    out = interleave(engine, credit, credit)
    assert out.refused is not None and "already credited" in str(out.refused)
    invoice = _invoice(engine, batch)
    assert _money(engine, invoice.id) == (0, 10000, 6000, False)


def test_two_allocations_of_one_receipt(engine):
    party = _setup(engine, lambda s: _party_with(s, ["100.00"]))
    first_batch = _batch_for(engine, party.id)
    with transaction(engine) as s:
        make_encounter(s, s.get(type(party), party.id), amounts=("100.00",))
    second_batch = _batch_for(engine, party.id)
    one, two = _invoice(engine, first_batch), _invoice(engine, second_batch)
    with transaction(engine) as s:
        receipt = post_receipt(s, party_id=party.id, amount="100.00", received_date=date.today(), method="check",
                               actor=ACTOR)

    def to(invoice):
        return lambda s: allocate_receipt(s, receipt_id=receipt.id, allocations={invoice.id: Decimal("100.00")},
                                          actor=ACTOR)

    out = interleave(engine, to(one), to(two))
    assert out.refused is not None and "more than the $0.00 available" in str(out.refused)
    assert _money(engine, one.id) == (10000, 0, 0, True)
    assert _money(engine, two.id) == (0, 0, 10000, False)


def test_the_same_request_key_twice_acts_once(engine):
    party = _setup(engine, lambda s: _party_with(s, ["100.00", "20.00"]))

    def create(s):
        return create_on_demand_batch(s, party_id=party.id, actor=ACTOR, request_key="form-1")

    out = interleave(engine, create, create)
    assert out.refused is None and out.second.id == out.first.id
    invoice = _invoice(engine, out.first)

    def pay(s):
        return post_receipt(s, party_id=party.id, amount="50.00", received_date=date.today(), method="check",
                            allocations={invoice.id: Decimal("50.00")}, actor=ACTOR, request_key="form-2")

    out = interleave(engine, pay, pay)
    assert out.second.id == out.first.id and _count(engine, type(out.first)) == 1
    assert _money(engine, invoice.id) == (5000, 0, 7000, False)


def test_an_import_waiting_while_a_party_code_changes_is_refused(engine):
    from core import update_party

    party = _setup(engine, lambda s: make_party(s))
    csv = _encounters_csv(party.account_code, [("CODE1", "CPAT1", "90.00")])

    def rename(s):
        return update_party(s, party_id=party.id, account_code="RENAMED", actor=ACTOR)

    def load(s):
        return import_csv(s, kind="encounters", data=csv, actor=ACTOR)

    out = interleave(engine, rename, load)
    # PostgreSQL: the import looked the code up, then waited; SQLite: it read after the rename. Either way, refused.
    if out.refused is None:
        assert "there is no bill-to party" in str(out.second.errors[0])
    else:
        assert "changed a party's account code" in str(out.refused)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM encounter WHERE number = 'CODE1'")).scalar_one() == 0


# ---------- issue 12's writers take the same locks ----------

@pytest.mark.parametrize("write_off_first", [True, False], ids=["write-off-then-pay", "pay-then-write-off"])
def test_a_write_off_racing_a_payment_of_the_same_balance(engine, write_off_first):
    """Both want the last 400.00: whichever waits sees the other's work and is refused; never a negative balance."""
    from core import write_off

    party, _, invoice = _one_invoice(engine)

    def wo(s):
        return write_off(s, invoice_id=invoice.id, amount="400.00", reason="bad debt", actor=ACTOR)

    def pay(s):
        return post_receipt(s, party_id=party.id, amount="400.00", received_date=date.today(), method="check",
                            allocations={invoice.id: Decimal("400.00")}, actor=ACTOR)

    out = interleave(engine, wo, pay) if write_off_first else interleave(engine, pay, wo)
    assert out.refused is not None and "already paid" in str(out.refused)
    payments, credits, balance, paid = _money(engine, invoice.id)
    assert (payments, credits, balance, paid) == ((0 if write_off_first else 40000), 0, 0, True)


def test_two_refunds_of_one_receipts_unapplied_money(engine):
    from core import refund

    party = _setup(engine, lambda s: _party_with(s, ["100.00"]))
    with transaction(engine) as s:
        receipt = post_receipt(s, party_id=party.id, amount="80.00", received_date=date.today(), method="check",
                               actor=ACTOR)

    def back(s):
        return refund(s, receipt_id=receipt.id, amount="50.00", method="check", actor=ACTOR)

    out = interleave(engine, back, back)
    assert out.refused is not None and "more than the $30.00 unapplied" in str(out.refused)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT refunded_cents, applied_cents FROM receipt WHERE id = :i"),
                            {"i": receipt.id}).one() == (5000, 0)


def test_an_un_apply_racing_a_void_of_the_same_receipt(engine):
    """A void reverses what is applied when it runs: after an un-apply that waited, nothing is left to take back."""
    from core import list_allocations, unapply_allocation

    party, _, invoice = _one_invoice(engine)
    with transaction(engine) as s:
        receipt = post_receipt(s, party_id=party.id, amount="100.00", received_date=date.today(), method="check",
                               allocations={invoice.id: Decimal("100.00")}, actor=ACTOR)
        [allocation] = list_allocations(s, receipt_id=receipt.id)

    def void(s):
        return void_receipt(s, receipt_id=receipt.id, reason="NSF", actor=ACTOR)

    def unapply(s):
        return unapply_allocation(s, allocation_id=allocation.allocation_id, reason="wrong invoice", actor=ACTOR)

    out = interleave(engine, void, unapply)
    assert out.refused is not None and "already taken back" in str(out.refused)
    assert _money(engine, invoice.id) == (0, 0, 40000, False)
