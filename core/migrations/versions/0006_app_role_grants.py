"""PostgreSQL for a team: the app's role may read and write rows, never own, alter or truncate a table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Migrations run as the role that owns the schema (invoice_desk_owner in docs/postgres-roles.sql); the app
servers connect as invoice_desk_app. When that role exists, this grants it what core needs: SELECT, INSERT
and UPDATE on every table, DELETE only where core deletes (an import replaces an encounter's charge lines),
and the sequences behind the ids; tables that later migrations add get the same by default privileges.
Without the role (SQLite, or a single-role PostgreSQL) it does nothing.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "invoice_desk_app"

_GRANTS = f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT USAGE ON SCHEMA public TO {APP_ROLE};
    GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
    REVOKE INSERT, UPDATE ON alembic_version FROM {APP_ROLE};
    REVOKE UPDATE ON audit_record, credit_memo_line, document, request_key FROM {APP_ROLE};
    GRANT DELETE ON charge_line TO {APP_ROLE};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE};
  END IF;
END $$
"""

_REVOKES = f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE ON TABLES FROM {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE};
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
  END IF;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_GRANTS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_REVOKES)
