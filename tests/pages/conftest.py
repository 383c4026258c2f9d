"""AppTest fixtures and helpers: the app on a fresh SQLite file, empty or with the demo practice.

Expected figures in the page tests come from here: plain SQL over the raw rows (invoice lines, live
allocations, receipts, batch items, audit records), never from the functions the pages call.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core import clock, load_demo_data, open_engine
from core.demo import DEMO_AS_OF
from core.models import Allocation, Batch, BatchItem, Invoice, InvoiceLine, InvoiceProfile, Party
from tests.support.fingerprint import fingerprint

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
PAGES = ["pages/dashboard.py", "pages/batches.py", "pages/employer.py", "pages/payments.py", "pages/settings.py",
         "pages/audit.py"]
BANNER = "Invoice billing is switched off"
# The day after the demo practice was written (DEMO_AS_OF, 20 November 2026): its receipts fall in the
# last 30 days and its second notices in the last 7, so every headline figure has something to count.
DEMO_NEXT_DAY = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _point_at(monkeypatch, url: str) -> None:
    monkeypatch.setenv("INVOICE_DESK_DATABASE_URL", url)
    monkeypatch.delenv("INVOICE_DESK_DEMO", raising=False)
    monkeypatch.setenv("INVOICE_DESK_USER", "manager")  # local mode acts as this user (tests/pages/test_signin.py)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def warm_server(monkeypatch):
    """Run each AppTest as on a server that has been used once.

    AppTest puts Streamlit back in its legacy pages/ mode before every run; a real server leaves it
    for good after the router's first st.navigation, and that is the state managers work in.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = open_engine(f"sqlite:///{path}")
    with Session(engine) as s:
        load_demo_data(s, as_of=DEMO_AS_OF)
        s.commit()
    engine.dispose()
    return path


def _sqlite_copy(tmp_path, demo_file) -> str:
    import shutil

    path = tmp_path / "demo.db"
    shutil.copy(demo_file, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_demo_template(pg_cluster) -> str:
    """The demo practice loaded once into a PostgreSQL database that tests copy (CREATE DATABASE ... TEMPLATE)."""
    name = "invoice_desk_demo_pages"
    engine = open_engine(pg_cluster.create_database(name))
    with Session(engine) as s:
        load_demo_data(s, as_of=DEMO_AS_OF)
        s.commit()
    engine.dispose()
    return name


def _pg_copy(cluster, template: str) -> str:
    return cluster.copy_database(template, prefix="p")


@pytest.fixture
def demo_db(monkeypatch, tmp_path, demo_file):
    """A private copy of the demo database (SQLite), so a test's writes never leak into another's."""
    url = _sqlite_copy(tmp_path, demo_file)
    _point_at(monkeypatch, url)
    yield url
    st.cache_resource.clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_any(request, monkeypatch, tmp_path, demo_file):
    """A private copy of the demo practice on SQLite and on PostgreSQL: figures must agree on both."""
    if request.param == "sqlite":
        url = _sqlite_copy(tmp_path, demo_file)
    else:
        url = _pg_copy(request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_demo_template"))
    _point_at(monkeypatch, url)
    yield url
    st.cache_resource.clear()


@pytest.fixture
def empty_db(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    _point_at(monkeypatch, url)
    yield url
    st.cache_resource.clear()


@pytest.fixture
def demo_next_day(time_machine):
    """The clock on the day after the demo was written, still ticking (AppTest waits on it).

    A timestamp, not the aware datetime: time-machine sets TZ=UTC for a UTC datetime, which would
    hide the server zone (TZ) this run is testing.
    """
    time_machine.move_to(DEMO_NEXT_DAY.timestamp(), tick=True)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, Callable[[], bytes]]:
    """File name -> the callable a download button would run when the manager clicks it."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    found: dict[str, Callable[[], bytes]] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        found[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return found


# ---------- driving the app ----------

def app(page: str | None = None, *, secrets: dict | None = None, user: dict | None = None, **query) -> AppTest:
    """The app as a manager opens it: through the router, then the page (with its link's query).

    `secrets` and `user` are what st.secrets and st.user read (tests/pages/test_signin.py); without them the app
    runs in local mode.
    """
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain_text(text: str) -> str:
    """Markdown escapes removed: the characters a manager reads."""
    return re.sub(r"\\(.)", r"\1", text)


def plain(elements) -> list[str]:
    """What a manager reads: message bodies with Markdown escapes removed."""
    return [plain_text(e.value) for e in elements]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def column(at: AppTest, name: str, table: int = 0) -> list:
    """One column of a table as shown; an empty table (no rows, so no columns) reads as []."""
    frame = at.dataframe[table].value
    return list(frame[name]) if name in frame.columns else []


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: plain_text(m.value) for m in at.metric}


def charts(at: AppTest) -> list[dict]:
    """The plotly figures a page drew, as the browser receives them (data and layout)."""
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def charts_by_key(at: AppTest) -> dict[str, dict]:
    """The same, by the key the page gave each chart (dash_months, emp_aging ...)."""
    import json

    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def banner_count(at: AppTest) -> int:
    return sum(BANNER in t for t in plain(at.warning))


def dollars(cents: int) -> str:
    """Hand formatting of an amount, as a manager reads it: $1,234.50."""
    value = Decimal(cents) / 100
    return f"{'-' if cents < 0 else ''}${abs(value):,.2f}"


def pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return " ".join(re.sub(r"\s+", " ", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages)


# ---------- reading the database the test's own way ----------

@contextmanager
def db(url: str) -> Iterator[Session]:
    """A session of the test's own on the app's database; commits what the block wrote.

    The app caches its reads for up to a minute and clears them after its own writes; a write made
    here, beside the app, clears them the same way.
    """
    engine = open_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            yield s
            s.commit()
    finally:
        engine.dispose()
        st.cache_data.clear()


def snapshot(url: str) -> dict[str, str]:
    """The whole database's fingerprint (every row of every table), as committed."""
    engine = open_engine(url)
    try:
        return fingerprint(engine)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Ledger:
    """One invoice as the raw rows say: lines billed, live receipt and credit-memo allocations."""
    invoice_id: int
    number: str
    party_id: int
    billed: int
    payments: int
    credits: int
    first_sent: date
    due: date

    @property
    def balance(self) -> int:
        return self.billed - self.payments - self.credits


def ledger(s: Session) -> dict[int, Ledger]:
    inv, line, a = Invoice.__table__, InvoiceLine.__table__, Allocation.__table__
    bi, b, prof = BatchItem.__table__, Batch.__table__, InvoiceProfile.__table__
    billed = dict(s.execute(sa.select(line.c.invoice_id, sa.func.sum(line.c.amount_cents))
                            .group_by(line.c.invoice_id)).all())
    paid, credited = {}, {}
    for invoice_id, receipt_id, cents in s.execute(sa.select(a.c.invoice_id, a.c.receipt_id, a.c.amount_cents)
                                                   .where(a.c.live == sa.true())):
        target = paid if receipt_id is not None else credited
        target[invoice_id] = target.get(invoice_id, 0) + cents
    # First sending: the batch item sent once, with the terms of the profile its batch was made with.
    first = {r.invoice_id: (r.sent_on, r.terms_days) for r in s.execute(
        sa.select(bi.c.invoice_id, bi.c.sent_on, prof.c.terms_days).join(b, b.c.id == bi.c.batch_id)
        .join(prof, prof.c.id == b.c.profile_id).where(bi.c.times_batched == 1))}
    out = {}
    for invoice_id, number, party_id in s.execute(sa.select(inv.c.id, inv.c.number, inv.c.party_id)):
        sent, terms = first[invoice_id]
        out[invoice_id] = Ledger(invoice_id, number, party_id, billed.get(invoice_id, 0), paid.get(invoice_id, 0),
                                 credited.get(invoice_id, 0), sent, sent + timedelta(days=terms))
    return out


def receipt_applied(s: Session) -> dict[int, int]:
    """Receipt id -> cents of its live allocations."""
    a = Allocation.__table__
    return dict(s.execute(sa.select(a.c.receipt_id, sa.func.sum(a.c.amount_cents))
                          .where(a.c.live == sa.true(), a.c.receipt_id.is_not(None)).group_by(a.c.receipt_id)).all())


def practice_day(moment: datetime, s: Session) -> date:
    """The practice's calendar day of a stored moment (stored naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(clock.zone(s)).date()


def practice_clock(moment: datetime, s: Session) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(clock.zone(s)):%Y-%m-%d %H:%M}"


def party_name(s: Session, party_id: int) -> str:
    return s.execute(sa.select(Party.name).where(Party.id == party_id)).scalar_one()

