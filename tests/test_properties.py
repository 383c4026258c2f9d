"""Property-based tests of the batch and money invariants (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
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
        credits = s.execute(sa.select(sa.func.coalesce(sa.func.sum(Allocation.amount_cents), 0)).where(
            Allocation.invoice_id == inv.id, Allocation.live == sa.true(),
            Allocation.credit_memo_id.is_not(None))).scalar_one()
        totals = invoice_totals(s, inv.id)
        assert totals.billed == from_cents(lines)  # billed = sum of lines
        assert totals.payments + totals.credits == from_cents(paid)
        assert totals.credits == from_cents(credits)
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


money_step = st.one_of(
    st.tuples(st.just("batch"), st.integers(0, 2)),
    st.tuples(st.just("rebatch"), st.integers(0, 30)),
    st.tuples(st.just("receipt"), st.integers(0, 2), st.integers(1, 60_000), st.booleans()),
    st.tuples(st.just("allocate"), st.integers(0, 30), st.integers(0, 30), st.integers(1, 100)),
    st.tuples(st.just("void"), st.integers(0, 30)),
    st.tuples(st.just("memo"), st.integers(0, 30), st.sampled_from(["self-pay", "reassign", "void"])),
    st.tuples(st.just("credit"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("encounter"), st.integers(0, 2), cents),
)


def _party_identity_holds(s: Session, party_id: int) -> None:
    from core import party_account
    from core.models import CreditMemo, Receipt

    billed, balance = s.execute(sa.select(sa.func.coalesce(sa.func.sum(Invoice.billed_cents), 0),
                                          sa.func.coalesce(sa.func.sum(Invoice.balance_cents), 0))
                                .where(Invoice.party_id == party_id)).one()
    received = s.execute(sa.select(sa.func.coalesce(sa.func.sum(Receipt.amount_cents), 0)).where(
        Receipt.party_id == party_id, Receipt.voided == sa.false())).scalar_one()
    credited = s.execute(sa.select(sa.func.coalesce(sa.func.sum(CreditMemo.amount_cents), 0)).where(
        CreditMemo.party_id == party_id)).scalar_one()
    account = party_account(s, party_id=party_id)
    assert account.open_balance == from_cents(balance)
    assert from_cents(billed - received - credited) == account.open_balance - account.unapplied
    assert account.unapplied >= 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(money_step, min_size=1, max_size=25))
def test_money_invariants_hold_for_any_sequence(tmp_path_factory, steps):
    from core import (
        allocate_credit,
        allocate_receipt,
        create_credit_memo,
        open_invoices,
        post_receipt,
        void_receipt,
    )
    from core.models import CreditMemo, Receipt

    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('money') / 'm.db'}")
    with Session(engine, expire_on_commit=False) as s:
        billing_on(s)
        parties = [make_party(s) for _ in range(3)]
        for i in range(6):
            make_encounter(s, parties[i % 3], amounts=("125.00", "19.99") if i % 2 else ("80.10",))
        s.commit()
        items, receipts, memos = [], [], []
        for step_ in steps:
            kind = step_[0]
            try:
                if kind == "encounter":
                    make_encounter(s, parties[step_[1]], amounts=(step_[2],))
                elif kind == "batch":
                    items += create_on_demand_batch(s, party_id=parties[step_[1]].id, actor=ACTOR).items
                elif kind == "rebatch" and items:
                    items += rebatch(s, source_batch_id=items[step_[1] % len(items)].batch_id,
                                     actor=ACTOR).items
                elif kind == "receipt":
                    party = parties[step_[1]]
                    amount = Decimal(step_[2]) / 100
                    allocations = {}
                    if step_[3]:
                        left = amount
                        for inv in open_invoices(s, party_id=party.id):
                            take = min(left, inv.balance_due)
                            if take > 0:
                                allocations[inv.invoice_id] = take
                                left -= take
                    receipts.append(post_receipt(s, party_id=party.id, amount=f"{amount:.2f}",
                                                 received_date=date(2026, 6, 1), method="check",
                                                 allocations=allocations, actor=ACTOR))
                elif kind == "allocate" and receipts and items:
                    r = receipts[step_[1] % len(receipts)]
                    item = items[step_[2] % len(items)]
                    amount = (Decimal(step_[3]) / 100).quantize(Decimal("0.01"))
                    allocate_receipt(s, receipt_id=r.id, allocations={item.invoice_id: amount}, actor=ACTOR)
                elif kind == "void" and receipts:
                    void_receipt(s, receipt_id=receipts[step_[1] % len(receipts)].id, reason="NSF", actor=ACTOR)
                elif kind == "memo" and items:
                    item = items[step_[1] % len(items)]
                    live = s.execute(sa.select(InvoiceLine.encounter_id).where(
                        InvoiceLine.invoice_id == item.invoice_id, InvoiceLine.live == sa.true())).scalars().all()
                    target = None
                    if step_[2] == "reassign":
                        target = next(p.id for p in parties if p.id != s.get(Invoice, item.invoice_id).party_id)
                    memos.append(create_credit_memo(s, batch_item_id=item.id, encounter_ids=live[:1],
                                                    action=step_[2], reason="correction",
                                                    reassign_to_party_id=target, actor=ACTOR))
                elif kind == "credit" and memos and items:
                    memo = memos[step_[1] % len(memos)]
                    item = items[step_[2] % len(items)]
                    allocate_credit(s, credit_memo_id=memo.id, allocations={item.invoice_id: Decimal("0.01")},
                                    actor=ACTOR)
                s.commit()
                event(f"done: {kind}")
            except InvoiceDeskError:
                s.rollback()
                event(f"refused: {kind}")
            _check_invariants(s)
            for r in s.execute(sa.select(Receipt)).scalars():
                assert 0 <= r.applied_cents <= r.amount_cents and (not r.voided or r.applied_cents == 0)
            for m in s.execute(sa.select(CreditMemo)).scalars():
                assert 0 <= m.applied_cents <= m.amount_cents
            for p in parties:
                _party_identity_holds(s, p.id)
    engine.dispose()
