"""The ledger's owner and its defences (issue 9): request keys, database errors in a manager's words,
tables that refuse to be rewritten, and rebatching invoices chosen from several batches."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import (
    ConcurrencyError,
    InvoiceDeskError,
    allocate_credit,
    allocate_receipt,
    create_credit_memo,
    create_on_demand_batch,
    post_receipt,
    rebatch,
    rebatch_invoices,
    void_receipt,
)
from core.db import new_session, transaction
from core.models import Allocation, AuditRecord, Batch, BatchItem, CreditMemo, Invoice, InvoiceLine, Receipt
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged
from tests.support.invariants import ledger_problems


def _count(session, model) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def invoiced(session):
    """A party with one 300.00 invoice of two visits, sent in batch 1."""
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, amounts=("200.00",))
    make_encounter(session, party, amounts=("100.00",))
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    invoice = session.execute(sa.select(Invoice).where(Invoice.batch_id == batch.id)).scalar_one()
    return party, batch, invoice


# ---------- the same request key twice acts once ----------

def test_a_receipt_submitted_twice_is_posted_once(session, invoiced):
    party, _, invoice = invoiced
    first = post_receipt(session, party_id=party.id, amount="120.00", received_date=date.today(), method="check",
                         reference="CHK 88", allocations={invoice.id: Decimal("120.00")}, actor=ACTOR,
                         request_key="pay-1")
    again = post_receipt(session, party_id=party.id, amount="120.00", received_date=date.today(), method="check",
                         reference="CHK 88", allocations={invoice.id: Decimal("120.00")}, actor=ACTOR,
                         request_key="pay-1")
    assert again.id == first.id and again.number == first.number
    assert _count(session, Receipt) == 1
    session.refresh(invoice)
    assert invoice.balance_cents == 18000
    # A new key is a new receipt.
    post_receipt(session, party_id=party.id, amount="10.00", received_date=date.today(), method="check",
                 actor=ACTOR, request_key="pay-2")
    assert _count(session, Receipt) == 2


def test_a_batch_rebatch_and_credit_memo_submitted_twice_act_once(session, invoiced):
    party, batch, invoice = invoiced
    make_encounter(session, party, amounts=("55.00",))
    created = [create_on_demand_batch(session, party_id=party.id, actor=ACTOR, request_key="batch-1")
               for _ in range(2)]
    assert created[0].id == created[1].id and len(created[1].items) == 1
    resent = [rebatch(session, source_batch_id=batch.id, actor=ACTOR, request_key="rebatch-1") for _ in range(2)]
    assert resent[0].id == resent[1].id
    assert _count(session, Batch) == 3
    item_id = session.execute(sa.select(BatchItem.id).where(BatchItem.batch_id == batch.id)).scalar_one()
    encounter = session.execute(sa.select(InvoiceLine.encounter_id).where(InvoiceLine.invoice_id == invoice.id)
                                .order_by(InvoiceLine.id)).scalars().first()
    memos = [create_credit_memo(session, batch_item_id=item_id, encounter_ids=[encounter], action="void",
                                reason="Billed twice", actor=ACTOR, request_key="memo-1") for _ in range(2)]
    assert memos[0].id == memos[1].id and _count(session, CreditMemo) == 1
    session.commit()
    assert ledger_problems(session.get_bind()) == []


def test_a_void_and_allocations_submitted_twice_act_once(session, invoiced):
    party, _, invoice = invoiced
    receipt = post_receipt(session, party_id=party.id, amount="100.00", received_date=date.today(), method="check",
                           actor=ACTOR)
    for _ in range(2):
        allocate_receipt(session, receipt_id=receipt.id, allocations={invoice.id: Decimal("40.00")}, actor=ACTOR,
                         request_key="alloc-1")
    session.refresh(invoice)
    assert invoice.payments_cents == 4000
    for _ in range(2):
        void_receipt(session, receipt_id=receipt.id, reason="NSF", actor=ACTOR, request_key="void-1")
    assert session.get(Receipt, receipt.id).voided
    actions = session.execute(sa.select(AuditRecord.action)).scalars().all()
    assert actions.count("receipt.allocate") == 1 and actions.count("receipt.void") == 1


def test_a_key_reused_with_other_values_is_refused_not_replayed(session, invoiced):
    party, _, invoice = invoiced
    first = post_receipt(session, party_id=party.id, amount="10.00", received_date=date.today(), method="cash",
                         actor=ACTOR, request_key="form-y")
    assert_refused_unchanged(session, lambda: post_receipt(
        session, party_id=party.id, amount="999.00", received_date=date.today(), method="cash", actor=ACTOR,
        request_key="form-y"), "already used with other values")
    second = post_receipt(session, party_id=party.id, amount="20.00", received_date=date.today(), method="cash",
                          actor=ACTOR)
    void_receipt(session, receipt_id=first.id, reason="Duplicate", actor=ACTOR, request_key="void-y")
    assert_refused_unchanged(session, lambda: void_receipt(session, receipt_id=second.id, reason="Duplicate",
                                                           actor=ACTOR, request_key="void-y"),
                             "already used with other values")
    assert not session.get(Receipt, second.id).voided
    # The repeat of an allocation returns the receipt the key acted on.
    allocate_receipt(session, receipt_id=second.id, allocations={invoice.id: Decimal("5.00")}, actor=ACTOR,
                     request_key="alloc-y")
    again = allocate_receipt(session, receipt_id=second.id, allocations={invoice.id: Decimal("5.00")}, actor=ACTOR,
                             request_key="alloc-y")
    assert again.id == second.id and again.applied_cents == 500


def test_a_key_used_for_another_action_is_refused(session, invoiced):
    party, batch, _ = invoiced
    post_receipt(session, party_id=party.id, amount="5.00", received_date=date.today(), method="cash", actor=ACTOR,
                 request_key="form-x")
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=batch.id, actor=ACTOR,
                                                      request_key="form-x"), "already used for another action")


@pytest.mark.parametrize("key", ["", "   ", "k" * 121, 42, "a\x00b"])
def test_a_request_key_that_cannot_be_one_is_refused_before_anything_is_written(session, invoiced, key):
    party, _, _ = invoiced
    assert_refused_unchanged(session, lambda: post_receipt(
        session, party_id=party.id, amount="5.00", received_date=date.today(), method="cash", actor=ACTOR,
        request_key=key), "request key")


# ---------- rebatch_invoices: invoices chosen from several batches ----------

def test_rebatch_invoices_makes_one_rebatch_per_batch_that_last_sent_them(session, invoiced):
    party, first_batch, first = invoiced
    make_encounter(session, party, amounts=("80.00",))
    second_batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    second = session.execute(sa.select(Invoice).where(Invoice.batch_id == second_batch.id)).scalar_one()
    made = rebatch_invoices(session, invoice_ids=[second.id, first.id], actor=ACTOR, internal_note="Second notices")
    assert [(b.source_batch_id, b.invoice_count, b.internal_note) for b in made] == [
        (first_batch.id, 1, "Second notices"), (second_batch.id, 1, "Second notices")]
    numbers = sorted(i.invoice_number for b in made for i in b.items)
    assert numbers == sorted([f"{first.number}-2", f"{second.number}-2"])
    # Resent again: each invoice's last batch is now its rebatch, and the suffixes go on.
    again = rebatch_invoices(session, invoice_ids=[first.id], actor=ACTOR)
    assert again[0].source_batch_id == made[0].id and again[0].items[0].invoice_number == f"{first.number}-3"


def test_rebatch_invoices_leaves_out_paid_ones_and_refuses_only_when_all_are_paid(session, invoiced):
    party, _, first = invoiced
    make_encounter(session, party, amounts=("80.00",))
    second_batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    second = session.execute(sa.select(Invoice).where(Invoice.batch_id == second_batch.id)).scalar_one()
    post_receipt(session, party_id=party.id, amount="80.00", received_date=date.today(), method="check",
                 allocations={second.id: Decimal("80.00")}, actor=ACTOR)
    made = rebatch_invoices(session, invoice_ids=[first.id, second.id], actor=ACTOR)
    assert [i.invoice_id for b in made for i in b.items] == [first.id]
    assert_refused_unchanged(session, lambda: rebatch_invoices(session, invoice_ids=[second.id], actor=ACTOR),
                             r"All 1 chosen invoice\(s\) are paid")
    with_paid = rebatch_invoices(session, invoice_ids=[second.id], include_paid=True, actor=ACTOR)
    assert with_paid[0].items[0].balance_cents == 0


@pytest.mark.parametrize("ids, message", [([], "at least one invoice"), ([999_999], "no invoice with id")])
def test_rebatch_invoices_refuses_nothing_or_unknown_invoices(session, invoiced, ids, message):
    assert_refused_unchanged(session, lambda: rebatch_invoices(session, invoice_ids=ids, actor=ACTOR), message)


# ---------- database errors reach callers in a manager's words ----------

def test_a_refused_action_leaves_nothing_behind_even_if_the_caller_commits(engine):
    with transaction(engine) as s:
        billing_on(s)
        party = make_party(s)
        make_encounter(s, party)
    with new_session(engine) as s:
        s.execute(sa.text("UPDATE party SET name = 'Changed by the caller' WHERE id = :id"), {"id": party.id})
        with pytest.raises(InvoiceDeskError):
            # A constraint the database enforces: a second profile with version 1 (as if two managers saved at once).
            from core.models import InvoiceProfile
            s.add(InvoiceProfile(version=1))
            s.flush()
            s.add(InvoiceProfile(version=1))
            create_on_demand_batch(s, party_id=party.id, actor=ACTOR)
        s.commit()
        assert s.execute(sa.text("SELECT name FROM party WHERE id = :id"), {"id": party.id}).scalar_one() != \
            "Changed by the caller"
        assert _count(s, Batch) == 0


def test_a_lock_wait_that_gives_up_is_a_concurrency_error(engine):
    with transaction(engine) as s:
        billing_on(s)
        party = make_party(s)
    holder = new_session(engine)
    try:
        # Another manager's action holds the party's lock (on SQLite: the database's write lock).
        post_receipt(holder, party_id=party.id, amount="1.00", received_date=date.today(), method="cash", actor=ACTOR)
        with pytest.raises(ConcurrencyError, match="Nothing was saved"):
            if engine.dialect.name == "sqlite":
                _post_with_short_busy_timeout(engine, party.id)
            else:
                with new_session(engine) as waiter:
                    waiter.execute(sa.text("SET lock_timeout = '200ms'"))
                    post_receipt(waiter, party_id=party.id, amount="2.00", received_date=date.today(),
                                 method="cash", actor=ACTOR)
    finally:
        holder.rollback()
        holder.close()


def _post_with_short_busy_timeout(engine, party_id: int) -> None:
    eng = sa.create_engine(engine.url, connect_args={"timeout": 0.2})
    from core.db import _configure_sqlite

    _configure_sqlite(eng)

    @sa.event.listens_for(eng, "connect")
    def _short(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout = 200")

    try:
        with transaction(eng) as s:
            post_receipt(s, party_id=party_id, amount="2.00", received_date=date.today(), method="cash", actor=ACTOR)
    finally:
        eng.dispose()


def test_two_first_batches_at_once_share_the_default_profile(engine):
    with transaction(engine) as s:
        billing_on(s)
        parties = [make_party(s) for _ in range(2)]
        for p in parties:
            make_encounter(s, p)
    errors, barrier = [], threading.Barrier(2)

    def create(party_id):
        try:
            barrier.wait()
            with transaction(engine) as s:
                create_on_demand_batch(s, party_id=party_id, actor=ACTOR)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(p.id,)) for p in parties]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invoice_profile")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(DISTINCT profile_id) FROM batch")).scalar_one() == 1


# ---------- the ledger defends itself ----------

def _ledger_rows(engine):
    with transaction(engine) as s:
        billing_on(s)
        party = make_party(s)
        make_encounter(s, party, amounts=("90.00",))
        batch = create_on_demand_batch(s, party_id=party.id, actor=ACTOR)
        invoice = s.execute(sa.select(Invoice).where(Invoice.batch_id == batch.id)).scalar_one()
        receipt = post_receipt(s, party_id=party.id, amount="50.00", received_date=date.today(), method="check",
                               allocations={invoice.id: Decimal("30.00")}, actor=ACTOR)
        item_id = s.execute(sa.select(BatchItem.id).where(BatchItem.batch_id == batch.id)).scalar_one()
        encounter = s.execute(sa.select(InvoiceLine.encounter_id).where(InvoiceLine.invoice_id == invoice.id)).scalar_one()
        memo = create_credit_memo(s, batch_item_id=item_id, encounter_ids=[encounter], action="void", reason="Error",
                                  actor=ACTOR)
    return receipt, memo


@pytest.mark.parametrize("statement", [
    "DELETE FROM allocation",
    "DELETE FROM receipt",
    "DELETE FROM credit_memo",
    "DELETE FROM credit_memo_line",
    "UPDATE allocation SET amount_cents = amount_cents + 1",
    "UPDATE allocation SET invoice_id = invoice_id + 1000",
    "UPDATE allocation SET live = NOT live",
    "UPDATE receipt SET amount_cents = 1",
    "UPDATE receipt SET party_id = party_id + 1000",
    "UPDATE credit_memo SET amount_cents = 1",
    "UPDATE credit_memo SET reason = 'Rewritten later'",
    "UPDATE credit_memo SET reassign_to_party_id = party_id",
    "UPDATE credit_memo_line SET amount_cents = 1",
    "UPDATE allocation SET reversed_at = created_at",
    "UPDATE allocation SET id = id + 1000",
    "UPDATE receipt SET reference = 'CHK 999'",
    "UPDATE receipt SET voided_at = created_at",
    "UPDATE receipt SET void_reason = 'Quietly rewritten'",
])
def test_direct_changes_to_the_ledger_are_refused(engine, statement):
    _ledger_rows(engine)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*), coalesce(sum(amount_cents), 0) FROM allocation")).one()
    # On PostgreSQL as the schema's owner: the app's own role may not even try some of these (test below).
    owner = _owner_engine(engine)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with owner.begin() as conn:
            conn.execute(sa.text(statement.replace("NOT live", "CASE WHEN live THEN false ELSE true END")
                                 if engine.dialect.name == "postgresql" else statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), coalesce(sum(amount_cents), 0) FROM allocation")).one() == before
    assert ledger_problems(engine) == []


def test_a_voided_receipts_reason_is_kept_as_it_was(engine):
    receipt, _ = _ledger_rows(engine)
    with transaction(engine) as s:
        void_receipt(s, receipt_id=receipt.id, reason="NSF", actor=ACTOR)
    for change in ("void_reason = 'Changed later'", "voided = false", "voided_at = created_at"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(f"UPDATE receipt SET {change.replace('false', '0') if engine.dialect.name == 'sqlite' else change}"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT void_reason FROM receipt")).scalar_one() == "NSF"


def test_core_may_still_void_and_reallocate_through_the_guards(engine):
    receipt, memo = _ledger_rows(engine)
    with transaction(engine) as s:
        void_receipt(s, receipt_id=receipt.id, reason="NSF", actor=ACTOR)
    with transaction(engine) as s:
        invoice_id = s.get(CreditMemo, memo.id).invoice_id
        # 90.00 billed, the 30.00 payment voided, 60.00 of the 90.00 credit applied: 30.00 open, 30.00 credit left.
        assert s.get(Invoice, invoice_id).balance_cents == 3000
        allocate_credit(s, credit_memo_id=memo.id, allocations={invoice_id: Decimal("30.00")}, actor=ACTOR)
    with transaction(engine) as s:
        assert s.get(Invoice, invoice_id).paid and s.get(CreditMemo, memo.id).applied_cents == 9000
    assert ledger_problems(engine) == []


def test_sqlite_insert_or_replace_cannot_rewrite_the_audit_log(sqlite_engine):
    _ledger_rows(sqlite_engine)
    path = sqlite_engine.url.database
    conn = sqlite3.connect(path)
    try:
        first = conn.execute("SELECT id, actor, action FROM audit_record ORDER BY id LIMIT 1").fetchone()
        for verb in ("INSERT OR REPLACE INTO", "REPLACE INTO"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(f"{verb} audit_record (id, at, actor, action, entity, record_ids, detail) "
                             "VALUES (?, '2026-01-01', 'intruder', 'nothing', 'x', '', '{}')", (first[0],))
        conn.rollback()
        assert conn.execute("SELECT id, actor, action FROM audit_record ORDER BY id LIMIT 1").fetchone() == first
        # The same for the ledger, on a plain connection that never turned recursive triggers on.
        receipt = conn.execute("SELECT * FROM receipt").fetchone()
        columns = [d[0] for d in conn.execute("SELECT * FROM receipt").description]
        moved = dict(zip(columns, receipt, strict=True)) | {"amount_cents": 100000}
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(f"INSERT OR REPLACE INTO receipt ({', '.join(moved)}) VALUES ({', '.join('?' * len(moved))})",
                         list(moved.values()))
        conn.rollback()
        ids = [r[0] for r in conn.execute("SELECT id FROM allocation ORDER BY id")]
        assert len(ids) == 2
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE OR REPLACE allocation SET id = ? WHERE id = ?", (ids[0], ids[1]))
        conn.rollback()
        assert conn.execute("SELECT amount_cents FROM receipt").fetchone()[0] == 5000
    finally:
        conn.close()


def _owner_engine(engine):
    from tests.support.postgres import OWNER, as_role

    if engine.dialect.name != "postgresql":
        return engine
    return sa.create_engine(as_role(engine.url, OWNER))


def test_postgresql_refuses_truncate_of_the_ledger_and_the_audit_log(pg_engine):
    _ledger_rows(pg_engine)
    owner = _owner_engine(pg_engine)
    for table in ("allocation", "receipt", "audit_record", "audit_change"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with owner.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    owner.dispose()
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Allocation)).scalar_one() > 0


@pytest.mark.parametrize("statement", [
    "TRUNCATE allocation CASCADE", "TRUNCATE audit_record", "DELETE FROM receipt", "DELETE FROM audit_record",
    "DELETE FROM audit_change", "UPDATE audit_change SET changes = '{}'",
    "ALTER TABLE receipt DROP CONSTRAINT ck_receipt_amount_positive", "DROP TABLE request_key",
    "ALTER TABLE allocation DISABLE TRIGGER allocation_guard", "CREATE TABLE intruder (id int)",
    "UPDATE alembic_version SET version_num = '0001'",
])
def test_the_apps_postgresql_role_owns_nothing_it_could_truncate_or_alter(pg_engine, statement):
    """README "Running for a team": the app connects as a role with row rights only; the tests run that way."""
    _ledger_rows(pg_engine)
    assert pg_engine.url.username == "invoice_desk_app"
    with pytest.raises(sa.exc.DBAPIError, match="permission denied|must be owner"):
        with pg_engine.begin() as conn:
            conn.execute(sa.text(statement))


# ---------- the billing switch: which actions it blocks is declared once, and tested once for all ----------

class _World:
    """Billing on: an open invoice, a paid one whose visit was credited (credit left), a receipt with money left."""

    def __init__(self, session):
        billing_on(session)
        self.party = make_party(session)
        make_encounter(session, self.party, amounts=("100.00",))
        self.batch = create_on_demand_batch(session, party_id=self.party.id, actor=ACTOR)
        self.paid = session.execute(sa.select(Invoice).where(Invoice.batch_id == self.batch.id)).scalar_one()
        post_receipt(session, party_id=self.party.id, amount="100.00", received_date=date.today(), method="check",
                     allocations={self.paid.id: Decimal("100.00")}, actor=ACTOR)
        item_id = session.execute(sa.select(BatchItem.id).where(BatchItem.batch_id == self.batch.id)).scalar_one()
        encounter = session.execute(sa.select(InvoiceLine.encounter_id)
                                    .where(InvoiceLine.invoice_id == self.paid.id)).scalar_one()
        self.memo = create_credit_memo(session, batch_item_id=item_id, encounter_ids=[encounter], action="void",
                                       reason="Billed in error", actor=ACTOR)
        make_encounter(session, self.party, amounts=("70.00",))
        second = create_on_demand_batch(session, party_id=self.party.id, actor=ACTOR)
        self.open = session.execute(sa.select(Invoice).where(Invoice.batch_id == second.id)).scalar_one()
        self.receipt = post_receipt(session, party_id=self.party.id, amount="20.00", received_date=date.today(),
                                    method="cash", actor=ACTOR)
        make_encounter(session, self.party, amounts=("30.00",))
        from core import set_invoice_billing

        set_invoice_billing(session, enabled=False, actor=ACTOR)
        session.commit()


GATED_CALLS = {
    "create_on_demand_batch": lambda s, w: create_on_demand_batch(s, party_id=w.party.id, actor=ACTOR),
    "rebatch": lambda s, w: rebatch(s, source_batch_id=w.batch.id, include_paid=True, actor=ACTOR),
    "rebatch_invoices": lambda s, w: rebatch_invoices(s, invoice_ids=[w.open.id], actor=ACTOR),
    "post_receipt": lambda s, w: post_receipt(s, party_id=w.party.id, amount="5.00", received_date=date.today(),
                                              method="check", actor=ACTOR),
    "allocate_receipt": lambda s, w: allocate_receipt(s, receipt_id=w.receipt.id,
                                                      allocations={w.open.id: Decimal("5.00")}, actor=ACTOR),
    "allocate_credit": lambda s, w: allocate_credit(s, credit_memo_id=w.memo.id,
                                                    allocations={w.open.id: Decimal("5.00")}, actor=ACTOR),
}


def test_the_billing_switch_blocks_exactly_the_declared_actions():
    from core.settings import BLOCKED_WHILE_BILLING_OFF

    assert set(BLOCKED_WHILE_BILLING_OFF) == set(GATED_CALLS)


@pytest.mark.parametrize("name", sorted(GATED_CALLS))
def test_with_billing_off_a_blocked_action_is_refused_and_changes_nothing(session, name):
    from core.settings import BLOCKED_WHILE_BILLING_OFF

    world = _World(session)
    assert_refused_unchanged(session, lambda: GATED_CALLS[name](session, world),
                             f"Invoice billing is switched off, so {BLOCKED_WHILE_BILLING_OFF[name]} is not possible. "
                             r"Turn it on in Settings > Invoice billing\.")
    # The same call works once billing is back on: the refusal was the switch, not the call.
    from core import set_invoice_billing

    set_invoice_billing(session, enabled=True, actor=ACTOR)
    GATED_CALLS[name](session, world)


def test_corrections_stay_possible_with_billing_off(session):
    world = _World(session)
    void_receipt(session, receipt_id=world.receipt.id, reason="Entered twice", actor=ACTOR)
    item_id = session.execute(sa.select(BatchItem.id).where(BatchItem.invoice_id == world.open.id)).scalar_one()
    encounter = session.execute(sa.select(InvoiceLine.encounter_id)
                                .where(InvoiceLine.invoice_id == world.open.id)).scalar_one()
    create_credit_memo(session, batch_item_id=item_id, encounter_ids=[encounter], action="self-pay",
                       reason="Patient pays", actor=ACTOR)
    session.commit()
    assert session.get(Invoice, world.open.id).paid


def test_an_app_server_started_before_the_migration_says_to_run_it(pg_cluster):
    import uuid

    from core import open_engine
    from core.db import upgrade
    from tests.support.postgres import APP, as_role

    url = pg_cluster.create_database(f"behind_{uuid.uuid4().hex[:8]}")
    owner = open_engine(url, migrate=False)
    upgrade(owner, "0005")
    owner.dispose()
    with pytest.raises(InvoiceDeskError, match=r"\./desk migrate"):
        open_engine(as_role(url, APP))
