"""CSV import: whole file or nothing, every bad row reported, the same file twice changes nothing."""

from __future__ import annotations

import random

import sqlalchemy as sa

from core import create_on_demand_batch, import_csv, template_csv
from core.imports import ENCOUNTER_COLUMNS, PARTY_COLUMNS
from core.models import ChargeLine, Encounter, Party
from tests.factories import ACTOR, billing_on, table_counts

PARTIES = """account_code,name,kind,group,billable,contact_name,email,address_line1,address_line2,city,state,postal_code
ACME01,Acme Manufacturing,employer,Acme Group,yes,Pat Lee,ap@acme.example,100 Main St,,Springfield,IL,62701
ACME02,Acme Warehouse,employer,Acme Group,yes,,,200 Dock Rd,,Springfield,IL,62702
LAW01,Hale & Ortiz LLP,attorney,,no,,,9 Court Sq,Floor 3,Springfield,IL,62703
"""
ENCOUNTERS = """encounter_number,patient_account,patient_name,party_account_code,date_of_service,post_date,procedure_code,description,units,amount
E-1,P-1,Zoë Müller-Øberg,ACME01,2026-03-01,2026-03-02,80305,Drug screen,1,45.00
E-1,P-1,Zoë Müller-Øberg,ACME01,2026-03-01,2026-03-02,99213,Visit,2,110.00
E-2,P-2,José Peña,ACME02,2026-03-05,2026-03-05,99455,DOT physical,1,95.50
"""


def _load(session):
    assert import_csv(session, kind="parties", data=PARTIES, actor=ACTOR).ok
    report = import_csv(session, kind="encounters", data=ENCOUNTERS.encode(), actor=ACTOR)
    assert report.ok
    session.commit()
    return report


def test_import_creates_then_same_file_changes_nothing(session):
    report = _load(session)
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    e1 = session.execute(sa.select(Encounter).where(Encounter.number == "E-1")).scalar_one()
    assert e1.total_cents == 4500 + 11000
    assert session.execute(sa.select(sa.func.count()).select_from(ChargeLine)).scalar_one() == 3
    law = session.execute(sa.select(Party).where(Party.account_code == "LAW01")).scalar_one()
    assert law.kind == "attorney" and not law.billable and law.address_line2 == "Floor 3"

    before = table_counts(session)
    again = import_csv(session, kind="encounters", data=ENCOUNTERS, actor=ACTOR)
    parties_again = import_csv(session, kind="parties", data=PARTIES, actor=ACTOR)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert (parties_again.created, parties_again.updated, parties_again.unchanged) == (0, 0, 3)
    after = table_counts(session)
    assert {k: v for k, v in after.items() if k != "audit_record"} == \
           {k: v for k, v in before.items() if k != "audit_record"}


def test_import_from_path_and_update_before_invoicing(session, tmp_path):
    _load(session)
    path = tmp_path / "enc.csv"
    path.write_text(ENCOUNTERS.replace("95.50", "99.00"), encoding="utf-8")
    report = import_csv(session, kind="encounters", data=path, actor=ACTOR)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    e2 = session.execute(sa.select(Encounter).where(Encounter.number == "E-2")).scalar_one()
    assert e2.total_cents == 9900


def test_invoiced_encounter_cannot_be_changed_by_import(session):
    _load(session)
    billing_on(session)
    acme = session.execute(sa.select(Party).where(Party.account_code == "ACME01")).scalar_one()
    batch = create_on_demand_batch(session, party_id=acme.id, actor=ACTOR)
    session.commit()
    before = table_counts(session)
    report = import_csv(session, kind="encounters", data=ENCOUNTERS.replace("45.00", "50.00"), actor=ACTOR)
    assert not report.ok
    (error,) = report.errors
    assert (error.row, error.column) == (2, "encounter_number")
    assert batch.items[0].invoice_number in error.message and "credit memo" in error.message
    session.rollback()
    assert table_counts(session) == before


def _bad(session, kind, text):
    _load(session)
    before = table_counts(session)
    report = import_csv(session, kind=kind, data=text, actor=ACTOR)
    session.rollback()
    assert table_counts(session) == before
    assert not report.ok and report.created == report.updated == 0
    return [(e.row, e.column) for e in report.errors], " | ".join(e.message for e in report.errors)


def test_bad_rows_are_each_reported_and_nothing_imported(session):
    text = ENCOUNTERS + "\n".join([
        "E-3,P-3,Kim Ito,ACME01,2026-02-30,2026-03-02,80305,Drug screen,1,45.00",
        "E-4,P-4,Lee Ray,ACME01,2026-03-01,2026-03-02,80305,Drug screen,1,-45.00",
        "E-5,P-5,Ann Fox,NOPE,2026-03-01,2026-03-02,80305,Drug screen,1,45.00",
        "E-6,P-6,Bo Li,ACME01,2026-03-01,2026-03-02,80305,Drug screen,0,10.005",
        "E-7,P-7,Cy Ng,ACME01,2026-03-01,2026-03-02,80305,Drug screen,1,45.00",
    ]) + "\n"
    where, messages = _bad(session, "encounters", text)
    assert where == [(5, "date_of_service"), (6, "amount"), (8, "units"), (8, "amount"), (7, "party_account_code")]
    assert "negative" in messages and "two decimal places" in messages and "no bill-to party 'NOPE'" in messages


def test_duplicate_and_missing_header_columns(session):
    header = ",".join(ENCOUNTER_COLUMNS)
    where, messages = _bad(session, "encounters", header + ",amount\n" + ENCOUNTERS.splitlines()[1] + ",1\n")
    assert where == [(1, "amount")] and "appears twice" in messages
    missing = ",".join(c for c in PARTY_COLUMNS if c != "billable")
    where, messages = _bad(session, "parties", missing + "\nX,Y,employer,,Springfield\n")
    assert where == [(1, "billable")] and "missing" in messages


def test_ten_megabytes_of_garbage(session):
    rng = random.Random(3)
    binary = bytes(rng.randrange(256) for _ in range(10 * 1024 * 1024))
    where, messages = _bad(session, "encounters", binary)
    assert where[0][0] == 1 and ("UTF-8" in messages or "binary" in messages)
    text = "".join(rng.choice("abc,;\"\n 123") for _ in range(10 * 1024 * 1024))
    where, messages = _bad(session, "parties", text)
    assert where and where[0][0] == 1


def test_party_rows_validated(session):
    text = PARTIES + "ACME01,Dup,employer,,yes,,,1 St,,City,IL,1\nBAD1,,robot,,maybe,,not-an-email,,,,,\n"
    where, messages = _bad(session, "parties", text)
    assert where == [(5, "account_code"), (6, "name"), (6, "kind"), (6, "billable"), (6, "email")]


def test_templates_have_the_documented_columns():
    assert template_csv("parties").splitlines()[0] == ",".join(PARTY_COLUMNS)
    assert template_csv("encounters").splitlines()[0] == ",".join(ENCOUNTER_COLUMNS)


def test_templates_import_cleanly(sqlite_engine):
    from sqlmodel import Session

    with Session(sqlite_engine) as s:
        assert import_csv(s, kind="parties", data=template_csv("parties"), actor=ACTOR).created == 1
        assert import_csv(s, kind="encounters", data=template_csv("encounters"), actor=ACTOR).created == 1
