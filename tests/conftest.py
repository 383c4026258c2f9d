"""Shared fixtures: a fresh database per test on SQLite and, where its binaries exist, PostgreSQL."""

from __future__ import annotations

import inspect
import os
from datetime import datetime

import pytest
from sqlmodel import Session

from core.db import open_engine
from tests.support import postgres

REQUIRE_POSTGRES = os.environ.get("INVOICE_DESK_REQUIRE_POSTGRES") == "1"
# CI runs the suite again with the clock started on a month end and on 29 February (an ISO moment with offset).
FROZEN_NOW = os.environ.get("INVOICE_DESK_TEST_NOW", "")
# "sqlite" or "postgresql": the other database's cases of every test parametrised over both are deselected.
# CI's frozen-clock runs split the two databases between them (.ci/run); the first run has both.
ONLY_DATABASE = os.environ.get("INVOICE_DESK_TEST_ONLY_DATABASE", "")
DATABASES = ("sqlite", "postgresql")


def pytest_collection_modifyitems(config, items):
    if not ONLY_DATABASE:
        return
    if ONLY_DATABASE not in DATABASES:
        raise pytest.UsageError(f"INVOICE_DESK_TEST_ONLY_DATABASE is {ONLY_DATABASE!r}; use sqlite or postgresql")
    other = next(name for name in DATABASES if name != ONLY_DATABASE)
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        (drop if callspec and other in callspec.params.values() else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def test_clock():
    """Every test reads the clock through core.clock; with INVOICE_DESK_TEST_NOW the run starts at that moment.

    The clock keeps ticking from there (tick=True), so time-outs and waits behave. It travels to a
    timestamp, not a zoned datetime: time-machine would otherwise set TZ to the datetime's zone and quietly
    undo the run's TZ.
    """
    if not FROZEN_NOW:
        yield None
        return
    import time_machine

    with time_machine.travel(datetime.fromisoformat(FROZEN_NOW).timestamp(), tick=True) as traveller:
        yield traveller


@pytest.fixture(scope="session")
def pg_cluster():
    if not postgres.available():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL server binaries are required here (INVOICE_DESK_REQUIRE_POSTGRES=1)")
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql-15)")
    cluster = postgres.start()
    # One migrated template; each test gets a copy, which is much faster than migrating again.
    template = cluster.create_database("invoice_desk_template")
    open_engine(template).dispose()
    yield cluster
    cluster.stop()


def _pg_database(cluster) -> str:
    return cluster.copy_database()


def module_engine(request, tmp_path_factory, name: str):
    """For a module-scoped fixture with params ["sqlite", "postgresql"]: a fresh migrated database of that kind."""
    if request.param == "sqlite":
        return open_engine(f"sqlite:///{tmp_path_factory.mktemp(name) / f'{name}.db'}")
    return open_engine(_pg_database(request.getfixturevalue("pg_cluster")))


def public_parameters(function) -> list[inspect.Parameter]:
    """A public core function's keyword parameters, the session (when it takes one) left out."""
    params = list(inspect.signature(function).parameters.values())
    if params and params[0].name == "session":
        params = params[1:]
    return [p for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = open_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    else:
        eng = open_engine(_pg_database(request.getfixturevalue("pg_cluster")))
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = open_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_cluster):
    eng = open_engine(_pg_database(pg_cluster))
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.rollback()
