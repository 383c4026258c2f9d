"""Request keys for idempotent actions, and a ledger that defends itself.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

- request_key: what one submitted form made (core.requests).
- The audit log cannot be rewritten by SQLite's INSERT OR REPLACE / REPLACE INTO (a REPLACE deletes the old
  row without firing delete triggers unless recursive triggers are on, so a BEFORE INSERT trigger refuses an
  id that exists).
- Allocations, receipts and credit memos are never deleted; an allocation only ever goes from live to
  reversed (with the moment), a receipt only from posted to voided, and their amounts, parties and targets
  never change. Only the stored applied totals, which core.allocations recomputes, may move.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALLOCATION_CHANGED = ("NEW.id <> OLD.id OR NEW.invoice_id IS NOT OLD.invoice_id OR NEW.receipt_id IS NOT OLD.receipt_id "
                       "OR NEW.credit_memo_id IS NOT OLD.credit_memo_id OR NEW.amount_cents <> OLD.amount_cents "
                       "OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by "
                       "OR (NOT OLD.live AND NEW.live) OR (NOT OLD.live AND NEW.reversed_at IS NOT OLD.reversed_at) "
                       "OR (OLD.live AND NEW.live AND NEW.reversed_at IS NOT OLD.reversed_at) "
                       "OR (OLD.live AND NOT NEW.live AND NEW.reversed_at IS NULL)")
_RECEIPT_CHANGED = ("NEW.id <> OLD.id OR NEW.number <> OLD.number OR NEW.party_id <> OLD.party_id "
                    "OR NEW.amount_cents <> OLD.amount_cents OR NEW.received_date IS NOT OLD.received_date "
                    "OR NEW.post_date IS NOT OLD.post_date OR NEW.method IS NOT OLD.method "
                    "OR NEW.reference IS NOT OLD.reference OR NEW.note IS NOT OLD.note "
                    "OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by "
                    "OR (OLD.voided AND NOT NEW.voided) "
                    "OR (OLD.voided AND (NEW.void_reason IS NOT OLD.void_reason OR NEW.voided_by IS NOT OLD.voided_by "
                    "OR NEW.voided_at IS NOT OLD.voided_at)) "
                    "OR (NOT NEW.voided AND (NEW.voided_at IS NOT NULL OR NEW.void_reason <> '' OR NEW.voided_by <> '')) "
                    "OR (NEW.voided AND NOT OLD.voided AND (NEW.voided_at IS NULL OR NEW.void_reason = ''))")
_MEMO_CHANGED = ("NEW.id <> OLD.id OR NEW.number <> OLD.number OR NEW.party_id <> OLD.party_id "
                 "OR NEW.amount_cents <> OLD.amount_cents OR NEW.invoice_id <> OLD.invoice_id "
                 "OR NEW.batch_item_id <> OLD.batch_item_id OR NEW.action IS NOT OLD.action "
                 "OR NEW.reason IS NOT OLD.reason OR NEW.reassign_to_party_id IS NOT OLD.reassign_to_party_id "
                 "OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by")
# Only the stored applied totals (recomputed by core.allocations), a reversal and a void may change a ledger row.
_GUARDS = {"allocation": _ALLOCATION_CHANGED, "receipt": _RECEIPT_CHANGED, "credit_memo": _MEMO_CHANGED,
           "credit_memo_line": "1 = 1"}
_NO_DELETE = ("allocation", "receipt", "credit_memo", "credit_memo_line")

SQLITE_UP = [
    "CREATE TRIGGER audit_record_no_replace BEFORE INSERT ON audit_record "
    "WHEN EXISTS (SELECT 1 FROM audit_record WHERE id = NEW.id) BEGIN "
    "SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    # REPLACE deletes the row it replaces without delete triggers (unless recursive triggers are on).
    *(f"CREATE TRIGGER {t}_no_replace BEFORE INSERT ON {t} WHEN EXISTS (SELECT 1 FROM {t} WHERE id = NEW.id) "
      f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never replaced'); END"
      for t in _NO_DELETE),
    *(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN "
      f"SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never deleted'); END" for t in _NO_DELETE),
    *(f"CREATE TRIGGER {t}_guard BEFORE UPDATE ON {t} WHEN {cond} BEGIN "
      f"SELECT RAISE(ABORT, 'the ledger is append-only: this change to {t} is refused'); END"
      for t, cond in _GUARDS.items()),
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_record_no_replace",
    *(f"DROP TRIGGER IF EXISTS {t}_no_replace" for t in _NO_DELETE),
    *(f"DROP TRIGGER IF EXISTS {t}_no_delete" for t in _NO_DELETE),
    *(f"DROP TRIGGER IF EXISTS {t}_guard" for t in _GUARDS),
]


def _pg_condition(cond: str) -> str:
    # The same conditions in PostgreSQL's words: IS NOT means IS DISTINCT FROM there.
    return cond.replace(" IS NOT OLD.", " IS DISTINCT FROM OLD.")


POSTGRESQL_UP = [
    "CREATE FUNCTION ledger_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the ledger is append-only: % rows are never deleted', TG_TABLE_NAME; END $$",
    *(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION ledger_no_delete()"
      for t in _NO_DELETE),
    *(f"CREATE FUNCTION {t}_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      f"IF {_pg_condition(cond)} THEN "
      f"RAISE EXCEPTION 'the ledger is append-only: this change to {t} is refused'; END IF; RETURN NEW; END $$"
      for t, cond in _GUARDS.items()),
    *(f"CREATE TRIGGER {t}_guard BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_guard()" for t in _GUARDS),
    # TRUNCATE skips row triggers; the ledger and the audit log refuse it as a statement.
    *(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_delete()"
      for t in (*_NO_DELETE, "audit_record")),
]
POSTGRESQL_DOWN = [
    *(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}" for t in (*_NO_DELETE, "audit_record")),
    *(f"DROP TRIGGER IF EXISTS {t}_guard ON {t}" for t in _GUARDS),
    *(f"DROP FUNCTION IF EXISTS {t}_guard()" for t in _GUARDS),
    *(f"DROP TRIGGER IF EXISTS {t}_no_delete ON {t}" for t in _NO_DELETE),
    "DROP FUNCTION IF EXISTS ledger_no_delete()",
]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "request_key",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("record_ids", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_request_key")),
    )
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
    op.drop_table("request_key")
