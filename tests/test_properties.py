"""Property-based tests of the batch and money invariants (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from core import InvoiceDeskError, create_on_demand_batch, invoice_totals, rebatch
from core.db import open_engine
from core.models import Allocation, BatchItem, Invoice, InvoiceLine
from core.money import from_cents
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party, pay_directly

cents = st.integers(min_value=0, max_value=500_000).map(lambda c: f"{Decimal(c) / 100:.2f}")
encounter = st.tuples(st.integers(0, 3), st.integers(0, 120), st.lists(cents, min_size=1, max_size=3))
step = st.one_of(
    st.tuples(st.just("batch"), st.integers(0, 3), st.integers(0, 120), st.integers(0, 120)),
    st.tuples(st.just("group"), st.integers(0, 120)),
    st.tuples(st.just("rebatch"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("pay"), st.integers(0, 50), st.integers(1, 100)),
)
START = date(2026, 1, 1)


def _check_invariants(s: Session) -> None:
    # An encounter is on at most one live invoice.
    dupes = s.execute(sa.select(InvoiceLine.encounter_id).where(InvoiceLine.live == sa.true())
                      .group_by(InvoiceLine.encounter_id).having(sa.func.count() > 1)).all()
    assert dupes == []
    for inv in s.execute(sa.select(Invoice)).scalars():
        lines = s.execute(sa.select(sa.func.sum(InvoiceLine.amount_cents)).where(
            InvoiceLine.invoice_id == inv.id)).scalar_one()
        paid = s.execute(sa.select(sa.func.coalesce(sa.func.sum(Allocation.amount_cents), 0)).where(
            Allocation.invoice_id == inv.id, Allocation.live == sa.true())).scalar_one()
        totals = invoice_totals(s, inv.id)
        assert totals.billed == from_cents(lines)  # billed = sum of lines
        assert totals.payments == from_cents(paid)
        assert totals.balance_due == totals.billed - totals.payments - totals.credits >= 0
        assert totals.status == ("Paid" if totals.balance_due == 0 else "Open")
        suffixes = s.execute(sa.select(BatchItem.times_batched, BatchItem.invoice_number).where(
            BatchItem.invoice_id == inv.id).order_by(BatchItem.times_batched)).all()
        # Suffixes of one invoice are 1..n without gaps, and the printed number follows them.
        assert [t for t, _ in suffixes] == list(range(1, inv.times_batched + 1))
        assert [n for _, n in suffixes] == [inv.number] + [f"{inv.number}-{t}" for t, _ in suffixes[1:]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encounters=st.lists(encounter, min_size=1, max_size=12), steps=st.lists(step, max_size=12))
def test_batch_money_invariants_hold_for_any_sequence(tmp_path_factory, encounters, steps):
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    with Session(engine, expire_on_commit=False) as s:
        billing_on(s)
        group = make_group(s)
        parties = [make_party(s, group=group if i < 3 else None) for i in range(4)]
        for pi, day, amounts in encounters:
            make_encounter(s, parties[pi], dos=START + timedelta(days=day), amounts=tuple(amounts))
        s.commit()
        batches = []
        for st_ in steps:
            try:
                if st_[0] == "batch":
                    _, pi, a, b = st_
                    lo, hi = sorted((a, b))
                    batches.append(create_on_demand_batch(s, party_id=parties[pi].id, actor=ACTOR,
                                                          dos_from=START + timedelta(days=lo),
                                                          dos_to=START + timedelta(days=hi)))
                elif st_[0] == "group":
                    batches.append(create_on_demand_batch(s, group_id=group.id, actor=ACTOR,
                                                          dos_to=START + timedelta(days=st_[1])))
                elif st_[0] == "rebatch" and batches:
                    batches.append(rebatch(s, source_batch_id=batches[st_[1] % len(batches)].id,
                                           include_paid=st_[2], actor=ACTOR))
                elif st_[0] == "pay" and batches:
                    item = batches[st_[1] % len(batches)].items[0]
                    balance = invoice_totals(s, item.invoice_id).balance_due
                    if balance > 0:
                        part = (balance * st_[2] / 100).quantize(Decimal("0.01"))
                        if part > 0:
                            pay_directly(s, item.invoice_id, str(part))
                s.commit()
            except InvoiceDeskError:
                s.rollback()
            _check_invariants(s)
        # Re-running every on-demand batch creates nothing: all it could take is already invoiced.
        count = s.execute(sa.select(sa.func.count()).select_from(BatchItem)).scalar_one()
        for pi in range(4):
            try:
                create_on_demand_batch(s, party_id=parties[pi].id, actor=ACTOR)
                s.commit()
            except InvoiceDeskError:
                s.rollback()
        for pi in range(4):
            try:
                create_on_demand_batch(s, party_id=parties[pi].id, actor=ACTOR)
                raise AssertionError("a second identical batch created invoices")
            except InvoiceDeskError as exc:
                assert "Nothing to invoice" in str(exc)
                s.rollback()
        assert s.execute(sa.select(sa.func.count()).select_from(BatchItem)).scalar_one() >= count
        _check_invariants(s)
    engine.dispose()
