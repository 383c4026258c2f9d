"""A throwaway PostgreSQL cluster for tests and benchmarks: a temp folder, a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    candidates = []
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.CalledProcessError):
            pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def available() -> bool:
    return _bindir() is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The team setup of README "Running for a team" (docs/postgres-roles.sql): migrations run as the owner of the
# schema, the app (and so every test that acts as the app) connects as a role that owns nothing.
OWNER, APP = "invoice_desk_owner", "invoice_desk_app"
ROLES_SQL = Path(__file__).resolve().parents[2] / "docs" / "postgres-roles.sql"


def as_role(url, role: str) -> str:
    """The same database, connected as another role."""
    import sqlalchemy as sa

    return sa.engine.make_url(str(url) if not isinstance(url, str) else url).set(username=role).render_as_string(
        hide_password=False)


@dataclass
class Cluster:
    folder: Path
    port: int
    bindir: Path

    def url(self, database: str = "postgres", role: str = "postgres") -> str:
        return f"postgresql+psycopg://{role}@127.0.0.1:{self.port}/{database}"

    def setup_roles(self) -> None:
        """The roles of docs/postgres-roles.sql (its CREATE DATABASE is for a real deployment, not for tests)."""
        import sqlalchemy as sa

        statements = [s.strip() for s in ROLES_SQL.read_text().split(";")]
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for statement in statements:
                lines = [line for line in statement.splitlines() if not line.startswith("--")]
                sql = " ".join(lines).strip()
                if sql.upper().startswith("CREATE ROLE"):
                    conn.execute(sa.text(sql))
        admin.dispose()

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def create_database(self, name: str) -> str:
        """An empty database owned by the schema owner; returns the owner's URL (the one migrations run as)."""
        subprocess.run(self._as_owner([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                                       "-U", "postgres", "-O", OWNER, name]), check=True, capture_output=True)
        return self.url(name, OWNER)

    def copy_database(self, template: str = "invoice_desk_template", prefix: str = "t") -> str:
        """A new database made from a template (far faster than migrating); returns the app role's URL."""
        import uuid

        import sqlalchemy as sa

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {OWNER}'))
        admin.dispose()
        return self.url(name, APP)

    def stop(self) -> None:
        subprocess.run(self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                                       "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Cluster:
    """initdb and start a cluster as the postgres user (the server refuses root)."""
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql-15)")
    folder = Path(tempfile.mkdtemp(prefix="invoice-desk-pg-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = Cluster(folder=folder, port=_free_port(), bindir=bindir)
    run = cluster._as_owner
    subprocess.run(run([str(bindir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-sync", "--locale=C"]), check=True, capture_output=True)
    options = (f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    subprocess.run(run([str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-o", options, "-l",
                        str(folder / "server.log"), "-w", "-t", "60", "start"]), check=True, capture_output=True)
    cluster.setup_roles()
    return cluster
