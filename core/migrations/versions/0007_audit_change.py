"""An import records each row it created or changed in a table of its own, linked to its audit record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

The import's audit record used to carry every change in its JSON detail, which a file of 200,000 rows made
tens of megabytes held in memory at once. Rows of audit_change are written chunk by chunk. Like the audit
record, a row is never changed: the app's role may insert and read them, not update them.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "invoice_desk_app"


def upgrade() -> None:
    op.create_table(
        "audit_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_record.id"], name=op.f("fk_audit_change_audit_id_audit_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_change")),
    )
    op.create_index(op.f("ix_audit_change_audit_id"), "audit_change", ["audit_id"], unique=False)
    # Append-only like the audit record (migration 0004): never replaced on SQLite, never truncated on PostgreSQL.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER audit_change_no_replace BEFORE INSERT ON audit_change "
                   "WHEN EXISTS (SELECT 1 FROM audit_change WHERE id = NEW.id) BEGIN "
                   "SELECT RAISE(ABORT, 'the audit log is append-only'); END")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER audit_change_no_truncate BEFORE TRUNCATE ON audit_change "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_delete()")
        op.execute(f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT, INSERT ON audit_change TO {APP_ROLE};
    REVOKE UPDATE ON audit_change FROM {APP_ROLE};
  END IF;
END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_change_no_replace")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_change_no_truncate ON audit_change")
    op.drop_index(op.f("ix_audit_change_audit_id"), table_name="audit_change")
    op.drop_table("audit_change")
