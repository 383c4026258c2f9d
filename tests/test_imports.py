"""CSV import: whole file or nothing, every bad row reported, the same file twice changes nothing."""

from __future__ import annotations

import random

import sqlalchemy as sa

from core import create_on_demand_batch, import_csv, template_csv
from core.imports import ENCOUNTER_COLUMNS, PARTY_COLUMNS
from core.models import ChargeLine, Encounter, Party
from tests.factories import ACTOR, billing_on
from tests.support.fingerprint import assert_refused_unchanged, commit_anyway, fingerprint

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


def _changed(before: dict[str, str], after: dict[str, str], *, ignore: tuple[str, ...] = ()) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if t not in ignore and before.get(t) != after.get(t))


def _import_refused(session, kind, data):
    """A bad file is reported, not raised: the report lists errors and, committed anyway, nothing changed."""
    session.commit()
    before = fingerprint(session.get_bind())
    report = import_csv(session, kind=kind, data=data, actor=ACTOR)
    commit_anyway(session)  # what the page or a notebook does after reading the report
    assert _changed(before, fingerprint(session.get_bind())) == [], "a refused import changed the database"
    assert not report.ok and report.created == report.updated == 0
    return report


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

    session.commit()
    before = fingerprint(session.get_bind())
    again = import_csv(session, kind="encounters", data=ENCOUNTERS, actor=ACTOR)
    parties_again = import_csv(session, kind="parties", data=PARTIES, actor=ACTOR)
    session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert (parties_again.created, parties_again.updated, parties_again.unchanged) == (0, 0, 3)
    # Every row of every table but the audit log (which records the two imports) is as it was.
    after = fingerprint(session.get_bind())
    assert _changed(before, after, ignore=("audit_record",)) == []
    assert before["audit_record"] != after["audit_record"]


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
    # The changed E-1 rides with a brand-new encounter: the file is refused whole, E-3 is not created either.
    changed = ENCOUNTERS.replace("45.00", "50.00") + "E-3,P-3,Kim Ito,ACME02,2026-03-06,2026-03-06,80305,Screen,1,45.00\n"
    report = _import_refused(session, "encounters", changed)
    (error,) = report.errors
    assert (error.row, error.column) == (2, "encounter_number")
    assert batch.items[0].invoice_number in error.message and "credit memo" in error.message
    e1 = session.execute(sa.select(Encounter).where(Encounter.number == "E-1")).scalar_one()
    assert e1.total_cents == 4500 + 11000


def _bad(session, kind, text):
    _load(session)
    report = _import_refused(session, kind, text)
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
    assert template_csv("parties").splitlines()[0] == ",".join(PARTY_COLUMNS) + ",email_cc"  # the optional Cc last
    assert template_csv("encounters").splitlines()[0] == ",".join(ENCOUNTER_COLUMNS)
    # The example row the Import page offers, as the help text describes it, one line per row.
    assert template_csv("parties") == ",".join(PARTY_COLUMNS) + ",email_cc\n" + (
        "ACME01,Acme Manufacturing,employer,Acme Group,yes,Pat Lee,ap@acme.example,100 Main St,Suite 4,"
        'Springfield,IL,62701,"controller@acme.example, hr@acme.example"\n')
    assert template_csv("encounters") == ",".join(ENCOUNTER_COLUMNS) + "\n" + (
        "E-10001,P-5001,Jordan Smith,ACME01,2026-10-01,2026-10-02,80305,Drug screen,1,45.00\n")


def test_templates_import_cleanly(sqlite_engine):
    from sqlmodel import Session

    with Session(sqlite_engine) as s:
        assert import_csv(s, kind="parties", data=template_csv("parties"), actor=ACTOR).created == 1
        assert import_csv(s, kind="encounters", data=template_csv("encounters"), actor=ACTOR).created == 1


def test_parties_file_with_good_rows_then_one_bad_row_imports_nothing(session):
    _load(session)
    # Row 3 renames ACME02, row 5 adds a party in a new group, row 6 is bad: none of it may stay.
    text = PARTIES.replace("Acme Warehouse", "Acme Warehouse Renamed") + "\n".join([
        "NEW01,New Site One,employer,Brand New Group,yes,,,1 Elm St,,Springfield,IL,62704",
        "NEW02,New Site Two,employer,,perhaps,,,2 Elm St,,Springfield,IL,62705",
    ]) + "\n"
    report = _import_refused(session, "parties", text)
    assert [(e.row, e.column) for e in report.errors] == [(6, "billable")]
    assert session.execute(sa.select(Party.name).where(Party.account_code == "ACME02")).scalar_one() == \
        "Acme Warehouse"


def test_encounters_file_with_good_rows_then_one_bad_row_imports_nothing(session):
    _load(session)
    text = ENCOUNTERS.replace("95.50", "99.00") + "\n".join([
        "E-3,P-3,Kim Ito,ACME01,2026-03-06,2026-03-06,80305,Drug screen,1,45.00",
        "E-4,P-4,Lee Ray,ACME02,2026-03-07,2026-03-06,80305,Drug screen,1,45.00",
    ]) + "\n"
    report = _import_refused(session, "encounters", text)
    assert [(e.row, e.column) for e in report.errors] == [(6, "post_date")]
    e2 = session.execute(sa.select(Encounter).where(Encounter.number == "E-2")).scalar_one()
    assert e2.total_cents == 9550


def test_unknown_import_kind_is_refused(session):
    assert_refused_unchanged(session, lambda: import_csv(session, kind="invoices", data=PARTIES, actor=ACTOR),
                             match="Unknown import kind 'invoices'")
    assert_refused_unchanged(session, lambda: import_csv(session, kind="parties", data=PARTIES, actor=" "),
                             match="actor")
