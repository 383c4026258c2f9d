"""Contains-search indexes on printed invoice numbers, and an append-only audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

SQLite gets an FTS5 table with the trigram tokenizer kept in step by triggers; PostgreSQL gets a
pg_trgm GIN index. Both make "number contains x" an index look-up instead of a scan of every row.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE batch_item_fts USING fts5("
    "invoice_number, content='batch_item', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER batch_item_fts_ai AFTER INSERT ON batch_item BEGIN "
    "INSERT INTO batch_item_fts(rowid, invoice_number) VALUES (new.id, new.invoice_number); END",
    "CREATE TRIGGER batch_item_fts_ad AFTER DELETE ON batch_item BEGIN "
    "INSERT INTO batch_item_fts(batch_item_fts, rowid, invoice_number) "
    "VALUES ('delete', old.id, old.invoice_number); END",
    "CREATE TRIGGER batch_item_fts_au AFTER UPDATE OF invoice_number ON batch_item BEGIN "
    "INSERT INTO batch_item_fts(batch_item_fts, rowid, invoice_number) "
    "VALUES ('delete', old.id, old.invoice_number); "
    "INSERT INTO batch_item_fts(rowid, invoice_number) VALUES (new.id, new.invoice_number); END",
    "INSERT INTO batch_item_fts(batch_item_fts) VALUES ('rebuild')",
    "CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record BEGIN "
    "SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record BEGIN "
    "SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_record_no_delete",
    "DROP TRIGGER IF EXISTS audit_record_no_update",
    "DROP TRIGGER IF EXISTS batch_item_fts_au",
    "DROP TRIGGER IF EXISTS batch_item_fts_ad",
    "DROP TRIGGER IF EXISTS batch_item_fts_ai",
    "DROP TABLE IF EXISTS batch_item_fts",
]
POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_batch_item_number_trgm ON batch_item USING gin (invoice_number gin_trgm_ops)",
    "CREATE FUNCTION audit_record_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    "CREATE TRIGGER audit_record_append_only BEFORE UPDATE OR DELETE ON audit_record "
    "FOR EACH ROW EXECUTE FUNCTION audit_record_append_only()",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS audit_record_append_only ON audit_record",
    "DROP FUNCTION IF EXISTS audit_record_append_only()",
    "DROP INDEX IF EXISTS ix_batch_item_number_trgm",
]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade() -> None:
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
