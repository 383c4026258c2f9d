"""The database layer: migrations to head, SQLite settings, numbering, the audit log, concurrency."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel

from core import (
    ConcurrencyError,
    InvoiceDeskError,
    create_on_demand_batch,
    invoice_history,
    load_demo_data,
    rebatch,
)
from core.db import current_revision, head_revision, open_engine, read_session, upgrade
from core.migrations.naming import include_object
from core.models import AuditRecord, BatchItem, Invoice
from core.numbering import next_numbers, numbering_gaps
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party


def _pending_diff(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)


def test_empty_database_reaches_head_with_no_pending_model_changes(engine):
    assert current_revision(engine) == head_revision() != "0001"
    assert _pending_diff(engine) == []


# Rows as revision 0001 knew them, written with plain SQL so the test never depends on today's models.
REVISION_0001_ROWS = [
    "INSERT INTO setting (key, value, updated_by) VALUES ('invoice_billing', 'on', 'old')",
    "INSERT INTO party (id, account_code, name, kind, billable, active, contact_name, email, address_line1, "
    "address_line2, city, state, postal_code) VALUES (1, 'OLD1', 'Old Employer', 'employer', true, true, '', '', "
    "'1 Main St', '', 'Salem', 'OR', '97301')",
    "INSERT INTO patient (id, account, name) VALUES (1, 'P1', 'Pat Old')",
    "INSERT INTO encounter (id, number, patient_id, party_id, date_of_service, post_date, total_cents, voided, "
    "self_pay) VALUES (1, 'E1', 1, 1, '2026-01-05', '2026-01-06', 5000, false, false)",
    "INSERT INTO encounter (id, number, patient_id, party_id, date_of_service, post_date, total_cents, voided, "
    "self_pay) VALUES (2, 'E2', 1, 1, '2026-02-05', '2026-02-06', 7000, false, false)",
    "INSERT INTO invoice_profile (id, version, remit_to_name, remit_to_address, logo_mime, footer, terms_days, "
    "show_procedure_codes, total_by, number_prefix, created_by) VALUES (1, 1, 'Old', '', '', '', 30, true, "
    "'patient', 'INV-', 'old')",
    "INSERT INTO batch (id, number, kind, party_id, internal_note, profile_id, created_by, created_at, sent_on, "
    "invoice_count, encounter_count, total_cents) VALUES (1, 1, 'on-demand', 1, '', 1, 'old', "
    "'2026-01-10 10:00:00+00:00', '2026-01-10', 1, 1, 5000)",
    "INSERT INTO invoice (id, seq, number, party_id, batch_id, first_sent_on, due_on, encounter_count, "
    "billed_cents, payments_cents, credits_cents, balance_cents, paid, times_batched, last_batch_id, created_at) "
    "VALUES (1, 1, 'INV-000001', 1, 1, '2026-01-10', '2026-02-09', 1, 5000, 0, 0, 5000, false, 1, 1, "
    "'2026-01-10 10:00:00+00:00')",
    "INSERT INTO invoice_line (id, invoice_id, encounter_id, amount_cents, live) VALUES (1, 1, 1, 5000, true)",
    "INSERT INTO batch_item (id, batch_id, invoice_id, party_id, times_batched, invoice_number, sent_on, "
    "billed_cents, payments_cents, credits_cents, balance_cents) VALUES (1, 1, 1, 1, 1, 'INV-000001', "
    "'2026-01-10', 5000, 0, 0, 5000)",
    "INSERT INTO number_sequence (name, last_value) VALUES ('batch', 1), ('invoice', 1)",
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_database_from_an_earlier_migration_upgrades_with_its_data(dialect, tmp_path, request):
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database("old_schema")
    old = open_engine(url, migrate=False)
    upgrade(old, "0001")
    assert current_revision(old) == "0001"
    with old.begin() as conn:
        for statement in REVISION_0001_ROWS:
            conn.execute(sa.text(statement))
        if dialect == "postgresql":  # explicit ids do not move PostgreSQL's sequences
            for table in ("party", "patient", "encounter", "invoice_profile", "batch", "invoice", "invoice_line",
                          "batch_item"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
    old.dispose()
    engine = open_engine(url)
    assert current_revision(engine) == head_revision() and _pending_diff(engine) == []
    with Session(engine) as s:
        # Rows written before the search index existed are found by it, and the old data still works.
        assert [r.invoice_number for r in invoice_history(s, number_contains="000001")] == ["INV-000001"]
        again = rebatch(s, source_batch_id=1, actor=ACTOR)
        assert again.items[0].invoice_number == "INV-000001-2"
        new = create_on_demand_batch(s, party_id=1, actor=ACTOR)
        assert new.items[0].invoice_number == "INV-000002" and new.total == Decimal("70.00")
        s.commit()
    engine.dispose()


# Money as revision 0007 kept it: a receipt allocated as it was posted, one allocated later, a voided one, a
# credit memo (Pacific/Pago_Pago, UTC-11: 03:00 UTC on Mar 2 is still Mar 1 on the practice's wall).
REVISION_0007_MONEY = [
    "INSERT INTO setting (key, value, updated_by) VALUES ('time_zone', 'Pacific/Pago_Pago', 'old')",
    "INSERT INTO receipt (id, number, party_id, amount_cents, received_date, post_date, method, reference, note, "
    "voided, void_reason, voided_by, applied_cents, created_by, created_at) VALUES (1, 1, 1, 2000, '2026-01-20', "
    "'2026-01-21', 'check', 'CHK 1', '', false, '', '', 2000, 'old', '2026-01-21 15:00:00+00:00')",
    "INSERT INTO receipt (id, number, party_id, amount_cents, received_date, post_date, method, reference, note, "
    "voided, void_reason, voided_by, voided_at, applied_cents, created_by, created_at) VALUES (2, 2, 1, 1000, "
    "'2026-01-25', '2026-01-25', 'check', 'CHK 2', '', true, 'NSF', 'old', '2026-03-02 03:00:00+00:00', 0, 'old', "
    "'2026-01-25 18:00:00+00:00')",
    "INSERT INTO receipt (id, number, party_id, amount_cents, received_date, post_date, method, reference, note, "
    "voided, void_reason, voided_by, applied_cents, created_by, created_at) VALUES (3, 3, 1, 500, '2026-01-28', "
    "'2026-01-28', 'cash', '', '', false, '', '', 500, 'old', '2026-01-28 18:00:00+00:00')",
    "INSERT INTO allocation (id, invoice_id, receipt_id, amount_cents, live, created_by, created_at) VALUES "
    "(1, 1, 1, 2000, true, 'old', '2026-01-21 15:00:00+00:00')",
    "INSERT INTO allocation (id, invoice_id, receipt_id, amount_cents, live, created_by, created_at, reversed_at) "
    "VALUES (2, 1, 2, 1000, false, 'old', '2026-01-25 18:00:00+00:00', '2026-03-02 03:00:00+00:00')",
    "INSERT INTO allocation (id, invoice_id, receipt_id, amount_cents, live, created_by, created_at) VALUES "
    "(3, 1, 3, 500, true, 'old', '2026-02-10 18:00:00+00:00')",
    "UPDATE invoice SET payments_cents = 2500, balance_cents = 2500 WHERE id = 1",
    "INSERT INTO number_sequence (name, last_value) VALUES ('receipt', 3)",
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_money_from_revision_0007_gets_its_days_and_reconciles(dialect, tmp_path, request):
    """Migration 0008 copies SQLite's ledger tables to change their checks; every row keeps its values and gets
    the practice's days: allocated as posted -> the received date, later -> the day allocated, voids -> their day."""
    from core import party_account, reconcile

    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'old7.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database("old_money")
    old = open_engine(url, migrate=False)
    upgrade(old, "0001")
    with old.begin() as conn:
        for statement in REVISION_0001_ROWS:
            conn.execute(sa.text(statement))
    upgrade(old, "0007")
    with old.begin() as conn:
        for statement in REVISION_0007_MONEY:
            conn.execute(sa.text(statement))
        if dialect == "postgresql":
            for table in ("party", "patient", "encounter", "invoice_profile", "batch", "invoice", "invoice_line",
                          "batch_item", "receipt", "allocation"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
    old.dispose()
    engine = open_engine(url)
    assert current_revision(engine) == head_revision() and _pending_diff(engine) == []
    with engine.connect() as conn:
        days = {r.id: (str(r.applied_on), str(r.reversed_on)) for r in conn.execute(
            sa.text("SELECT id, applied_on, reversed_on FROM allocation"))}
        voided_on = conn.execute(sa.text("SELECT voided_on FROM receipt WHERE id = 2")).scalar_one()
    assert days == {1: ("2026-01-20", "None"), 2: ("2026-01-25", "2026-03-01"), 3: ("2026-02-10", "None")}
    assert str(voided_on) == "2026-03-01"
    with Session(engine) as s:
        assert reconcile(s).ok, reconcile(s).problems
        # As of Jan 31 the NSF check still paid 10.00 and the cash (allocated Feb 10) was unapplied; as of Mar 1
        # the check was void and the cash applied: 50.00 - 20.00 - 10.00, then 50.00 - 20.00 - 5.00.
        jan = party_account(s, party_id=1, as_of=date(2026, 1, 31))
        assert (jan.open_balance, jan.unapplied) == (Decimal("20.00"), Decimal("5.00"))
        mar = party_account(s, party_id=1, as_of=date(2026, 3, 1))
        assert (mar.open_balance, mar.unapplied) == (Decimal("25.00"), Decimal("0.00"))
        # The upgraded ledger still takes new money: the guards know the new columns.
        from core import write_off

        write_off(s, invoice_id=1, amount="25.00", reason="small balance", actor=ACTOR)
        s.commit()
        assert reconcile(s).ok
    engine.dispose()


def test_sqlite_uses_wal_and_immediate_write_transactions(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    with Session(sqlite_engine) as writer:
        writer.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is taken at once
        other = sqlite_engine.raw_connection()
        other.driver_connection.execute("PRAGMA busy_timeout = 0")
        import sqlite3

        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.driver_connection.execute("BEGIN IMMEDIATE")
        other.close()
    with read_session(sqlite_engine) as reader:  # readers do not take the write lock
        reader.execute(sa.text("SELECT 1"))
        with Session(sqlite_engine) as writer:
            writer.execute(sa.text("SELECT 1"))
            writer.commit()


def test_numbers_are_unique_and_gaps_are_listed(session):
    billing_on(session)
    p = make_party(session)
    make_encounter(session, p)
    session.commit()
    next_numbers(session, "batch")
    session.commit()  # a number handed out and never used, as after a crash between steps
    create_on_demand_batch(session, party_id=p.id, actor=ACTOR)
    session.commit()
    gaps = numbering_gaps(session)
    assert gaps["batch"] == [1] and gaps["invoice"] == []
    assert list(next_numbers(session, "invoice", 3)) == [2, 3, 4]


def test_audit_log_is_append_only(session):
    billing_on(session)
    session.commit()
    row = session.execute(sa.select(AuditRecord)).scalars().first()
    assert row.action == "settings.invoice_billing" and row.actor == ACTOR
    # SQLite's triggers refuse; on PostgreSQL the app's role has no right to try (and the triggers back that up).
    with pytest.raises(sa.exc.DBAPIError, match="append-only|permission denied"):
        session.execute(sa.update(AuditRecord).values(actor="someone else"))
    session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only|permission denied"):
        session.execute(sa.delete(AuditRecord))
    session.rollback()


def test_every_batch_and_rebatch_is_audited(session):
    billing_on(session)
    p = make_party(session)
    make_encounter(session, p)
    batch = create_on_demand_batch(session, party_id=p.id, actor="ann")
    rebatch(session, source_batch_id=batch.id, actor="bob")
    session.commit()
    actions = session.execute(sa.select(AuditRecord.action, AuditRecord.actor).order_by(AuditRecord.id)).all()
    assert actions[-2:] == [("batch.create", "ann"), ("batch.rebatch", "bob")]


def test_demo_data_is_deterministic_and_demo_sized(tmp_path):
    dumps = []
    for name in ("a", "b"):
        engine = open_engine(f"sqlite:///{tmp_path / name}.db")
        with Session(engine) as s:
            load_demo_data(s, seed=7)
            s.commit()
            dumps.append({
                "encounters": s.execute(sa.text("SELECT number, party_id, date_of_service, total_cents "
                                                "FROM encounter ORDER BY id")).all(),
                "items": s.execute(sa.select(BatchItem.invoice_number, BatchItem.balance_cents)
                                   .order_by(BatchItem.id)).all(),
                "parties": s.execute(sa.text("SELECT account_code, name FROM party ORDER BY id")).all(),
                "groups": s.execute(sa.text("SELECT count(*) FROM party_group")).scalar(),
            })
        engine.dispose()
    assert dumps[0] == dumps[1]
    d = dumps[0]
    assert len(d["encounters"]) == 3000 and len(d["parties"]) == 40 and d["groups"] == 5
    assert any(number.count("-") == 2 for number, _ in d["items"])  # rebatches were made
    months = {row[2].month if isinstance(row[2], date) else row[2][5:7] for row in d["encounters"]}
    assert len(months) == 12


def test_concurrent_rebatches_keep_suffixes_consecutive(pg_engine):
    with Session(pg_engine) as s:
        billing_on(s)
        group = make_group(s)
        for _ in range(5):
            make_encounter(s, make_party(s, group=group))
        source = create_on_demand_batch(s, group_id=group.id, actor=ACTOR).id
        s.commit()
    errors, barrier = [], threading.Barrier(4)

    def resend():
        try:
            with Session(pg_engine) as s:
                barrier.wait()
                rebatch(s, source_batch_id=source, actor=ACTOR)
                s.commit()
        except Exception as exc:  # noqa: BLE001  (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=resend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(pg_engine) as s:
        for inv in s.execute(sa.select(Invoice)).scalars():
            times = s.execute(sa.select(BatchItem.times_batched).where(BatchItem.invoice_id == inv.id)
                              .order_by(BatchItem.times_batched)).scalars().all()
            assert times == [1, 2, 3, 4, 5]


def test_concurrent_on_demand_batches_never_invoice_an_encounter_twice(pg_engine):
    with Session(pg_engine) as s:
        billing_on(s)
        party = make_party(s)
        for _ in range(20):
            make_encounter(s, party)
        party_id = party.id
        s.commit()
    outcomes, barrier = [], threading.Barrier(3)

    def create():
        with Session(pg_engine) as s:
            barrier.wait()
            try:
                create_on_demand_batch(s, party_id=party_id, actor=ACTOR)
                s.commit()
                outcomes.append("created")
            except (ConcurrencyError, Exception) as exc:  # noqa: BLE001
                s.rollback()
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=create) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 1
    assert set(outcomes) - {"created"} <= {"ConcurrencyError", "InvoiceDeskError"}
    with Session(pg_engine) as s:
        assert s.execute(sa.text("SELECT count(*) FROM invoice_line WHERE live")).scalar() == 20
        assert s.execute(sa.text("SELECT count(*) FROM invoice")).scalar() == 1


def test_numbers_are_reserved_in_consecutive_runs_per_series(session):
    from core.numbering import credit_memo_number, invoice_number, receipt_number

    assert list(next_numbers(session, "receipt", 2)) == [1, 2]
    assert list(next_numbers(session, "receipt")) == [3]
    assert list(next_numbers(session, "credit_memo", 5)) == [1, 2, 3, 4, 5]
    assert list(next_numbers(session, "receipt", 1)) == [4]  # series do not share a counter
    with pytest.raises(ValueError, match="unknown numbering series 'invoices'"):
        next_numbers(session, "invoices")
    gaps = numbering_gaps(session)
    assert gaps["receipt"] == [1, 2, 3, 4] and gaps["credit_memo"] == [1, 2, 3, 4, 5]
    assert gaps["batch"] == [] and gaps["invoice"] == []
    assert (invoice_number("INV-", 42), credit_memo_number(7), receipt_number(1234567)) == \
        ("INV-000042", "CM-000007", "RCT-1234567")


def test_a_sessions_records_stay_readable_after_commit_and_close(sqlite_engine):
    """Pages read a record after the action's commit (a batch's number, a receipt's amount) without a reload."""
    from core.db import new_session
    from tests.factories import make_party

    with new_session(sqlite_engine) as s:
        party = make_party(s, name="Kept Co")
        s.commit()
    assert party.name == "Kept Co"


@pytest.mark.parametrize("url, message", [
    ("sqlite:///{tmp}/no/such/folder/desk.db", r"Cannot open the database sqlite:///.*/no/such/folder/desk\.db: "
                                               r"unable to open database file \(does its folder exist\?\)\."),
    ("postgresql+psycopg://someone:secret@127.0.0.1:1/desk", r"Cannot open the database postgresql\+psycopg://someone:"
                                                             r"\*\*\*@127\.0\.0\.1:1/desk: .*"),
    ("nonsense://desk", r"'nonsense://desk' is not a database URL Invoice Desk can open"),
])
def test_a_database_that_cannot_be_opened_is_named_in_a_clear_message(tmp_path, url, message):
    """A notebook's DATABASE_URL or an operator's INVOICE_DESK_DATABASE_URL that points nowhere: a message naming
    the database (never its password), not a driver's traceback."""
    with pytest.raises(InvoiceDeskError, match=message) as refused:
        open_engine(url.format(tmp=tmp_path))
    assert "secret" not in str(refused.value)
