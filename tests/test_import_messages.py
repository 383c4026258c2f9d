"""What a manager reads when an import is refused: the row, the column and the exact sentence for every kind
of mistake, and what a good file does to parties, groups, patients and charge lines (the audit included)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from core import audit_changes, audit_log, import_csv, template_csv
from core.imports import ENCOUNTER_COLUMNS, MAX_BYTES, PARTY_COLUMNS, ImportReport, RowError, _trim
from core.models import ChargeLine, Encounter, Group, Party, Patient
from tests.factories import ACTOR
from tests.support.fingerprint import commit_anyway, fingerprint

PARTY_HEADER = ",".join(PARTY_COLUMNS)
PARTY_ALLOWED = PARTY_HEADER + ",email_cc"  # the optional Cc column (a file may leave it out)
ENC_HEADER = ",".join(ENCOUNTER_COLUMNS)
GOOD_PARTY = "ACME01,Acme Manufacturing,employer,Acme Group,yes,Pat Lee,ap@acme.example,1 Main St,,Springfield,IL,62701"


def _errors(session, kind, data) -> list[str]:
    """The report's lines as the Import page lists them; the database, committed anyway, is unchanged."""
    session.commit()
    before = fingerprint(session.get_bind())
    report = import_csv(session, kind=kind, data=data, actor=ACTOR)
    commit_anyway(session)
    assert fingerprint(session.get_bind()) == before, "a refused import changed the database"
    assert not report.ok and (report.created, report.updated, report.unchanged) == (0, 0, 0)
    return [str(e) for e in report.errors]


def _changes(session, action: str) -> dict[str, dict]:
    """What the newest import of this kind recorded per row: code or number -> field -> [old, new]."""
    entry = audit_log(session, action=action)[0]
    return {c.key: c.changes for c in audit_changes(session, audit_id=entry.id)}


def _parties(session, *rows: str):
    report = import_csv(session, kind="parties", data="\n".join([PARTY_HEADER, *rows]) + "\n", actor=ACTOR)
    assert report.ok, report.errors
    session.commit()
    return report


@pytest.mark.parametrize("row, expected", [
    (",Nameless Code,employer,,yes,,,,,,,", ["row 2, column account_code: A party needs an account code."]),
    ("X1,,employer,,yes,,,,,,,", ["row 2, column name: A party needs a name."]),
    ("X1,Robot Co,Robot,,yes,,,,,,,", ["row 2, column kind: Kind must be employer or attorney, not 'Robot'."]),
    ("X1,Maybe Co,employer,,perhaps,,,,,,,", ["row 2, column billable: Billable must be yes or no (True or False), not 'perhaps'."]),
    ("X1,Mail Co,employer,,yes,,pat@nowhere,,,,,", ["row 2, column email: 'pat@nowhere' is not an e-mail address; write each as name@example.com, "
                                                 "separated by commas."]),
    ("X1,Mail Co,employer,,yes,,pat @x.com,,,,,", ["row 2, column email: 'pat' is not an e-mail address; write each as name@example.com, "
                                                "separated by commas."]),
    ("X" * 41 + ",Long Co,employer,,yes,,,,,,,", ["row 2, column account_code: Account code is 41 characters long; shorten it to at most 40."]),
    ("X1,Zip Co,employer,,yes,,,,,,," + "9" * 21, ["row 2, column postal_code: Postal code is 21 characters long; shorten it to at most 20."]),
])
def test_each_bad_party_row_is_named_exactly(session, row, expected):
    assert _errors(session, "parties", f"{PARTY_HEADER}\n{row}\n") == expected


def test_a_party_code_twice_in_one_file_names_the_first_row(session):
    text = f"{PARTY_HEADER}\n{GOOD_PARTY}\nB1,Other,attorney,,no,,,,,,,\n{GOOD_PARTY}\n"
    assert _errors(session, "parties", text) == ["row 4, column account_code: 'ACME01' is also on row 2."]


@pytest.mark.parametrize("word, billable", [("yes", True), ("Y", True), ("TRUE", True), ("1", True),
                                            ("no", False), ("n", False), ("False", False), ("0", False)])
def test_billable_words(session, word, billable):
    _parties(session, f"W1,Word Co,Employer,,{word},,,,,,,")
    party = session.execute(sa.select(Party).where(Party.account_code == "W1")).scalar_one()
    assert party.billable is billable and party.kind == "employer"


def test_a_party_file_creates_groups_once_and_an_update_records_what_changed(session):
    first = _parties(session, GOOD_PARTY, "ACME02,Acme Dock,employer,Acme Group,yes,,,2 Dock Rd,,Springfield,IL,62702",
                     "LAW01,Hale LLP,attorney,,no,,,,,,,")
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert session.execute(sa.select(Group.name)).scalars().all() == ["Acme Group"]
    acme = session.execute(sa.select(Party).where(Party.account_code == "ACME01")).scalar_one()
    law = session.execute(sa.select(Party).where(Party.account_code == "LAW01")).scalar_one()
    assert acme.group_id is not None and law.group_id is None
    assert (acme.name, acme.contact_name, acme.email, acme.address_line1, acme.address_line2, acme.city,
            acme.state, acme.postal_code) == ("Acme Manufacturing", "Pat Lee", "ap@acme.example", "1 Main St", "",
                                              "Springfield", "IL", "62701")

    created = _changes(session, "import.parties")["ACME01"]
    assert (created["name"], created["contact_name"], created["kind"]) == ([None, "Acme Manufacturing"],
                                                                           [None, "Pat Lee"], [None, "employer"])
    second = _parties(session, GOOD_PARTY.replace("Pat Lee", "Kim Ray").replace("Acme Group", "New Group"),
                      "ACME02,Acme Dock,employer,Acme Group,yes,,,2 Dock Rd,,Springfield,IL,62702",
                      "LAW01,Hale LLP,attorney,,no,,,,,,,")
    assert (second.created, second.updated, second.unchanged) == (0, 1, 2)
    session.refresh(acme)
    groups = dict(session.execute(sa.select(Group.name, Group.id)).all())
    assert sorted(groups) == ["Acme Group", "New Group"] and acme.group_id == groups["New Group"]
    assert acme.contact_name == "Kim Ray"
    entry = audit_log(session, action="import.parties")[0]
    assert [(c.line, c.record_id, c.action) for c in audit_changes(session, audit_id=entry.id)] == \
        [(2, acme.id, "updated")] and entry.actor == ACTOR
    assert _changes(session, "import.parties") == {"ACME01": {"contact_name": ["Pat Lee", "Kim Ray"],
                                                              "group_id": [groups["Acme Group"], groups["New Group"]]}}
    assert (entry.detail["rows"], entry.detail["created"], entry.detail["updated"], entry.detail["unchanged"]) == \
        (3, 0, 1, 2)
    assert len(entry.detail["sha256"]) == 64


def _enc(number="E-1", account="P-1", name="Kim Ito", party="ACME01", dos="2026-03-01", post="2026-03-02",
         code="80305", desc="Drug screen", units="1", amount="45.00") -> str:
    return ",".join([number, account, name, party, dos, post, code, desc, units, amount])


@pytest.mark.parametrize("row, expected", [
    (_enc(number=""), ["row 2, column encounter_number: Encounter number is required."]),
    (_enc(account=""), ["row 2, column patient_account: Patient account is required."]),
    (_enc(name=""), ["row 2, column patient_name: Patient name is required."]),
    (_enc(party=""), ["row 2, column party_account_code: Party account code is required."]),
    (_enc(code=""), ["row 2, column procedure_code: Procedure code is required."]),
    (_enc(dos="31/03/2026"), ["row 2, column date_of_service: '31/03/2026' is not a date; use YYYY-MM-DD or "
                              "MM/DD/YYYY."]),
    (_enc(dos="2026-3-1"), ["row 2, column date_of_service: '2026-3-1' is not a date; use YYYY-MM-DD or MM/DD/YYYY."]),
    (_enc(post="2026-02-29"), ["row 2, column post_date: '2026-02-29' is not a date; use YYYY-MM-DD or MM/DD/YYYY."]),
    (_enc(dos="1899-12-31"), ["row 2, column date_of_service: '1899-12-31' is not a date; use YYYY-MM-DD or "
                              "MM/DD/YYYY."]),
    (_enc(post="2026-02-28"), ["row 2, column post_date: is before the date of service."]),
    (_enc(units="0"), ["row 2, column units: '0' is not a whole number above zero."]),
    (_enc(units="1.5"), ["row 2, column units: '1.5' is not a whole number above zero."]),
    (_enc(units="1234567"), ["row 2, column units: '1234567' is not a whole number above zero."]),
    (_enc(amount="4.5.0"), ["row 2, column amount: amount '4.5.0' is not a number; write it like 125.00."]),
    (_enc(code="9" * 21), ["row 2, column procedure_code: Procedure code is 21 characters long; shorten it to at most 20."]),
    (_enc(party="NOPE"), ["row 2, column party_account_code: there is no bill-to party 'NOPE'; import parties first."]),
])
def test_each_bad_encounter_row_is_named_exactly(session, row, expected):
    _parties(session, GOOD_PARTY)
    assert _errors(session, "encounters", f"{ENC_HEADER}\n{row}\n") == expected


def test_a_date_of_service_after_the_practices_today_is_refused_and_today_is_not(session):
    from core import clock

    _parties(session, GOOD_PARTY)
    today = clock.today(session)
    tomorrow = date.fromordinal(today.toordinal() + 1)
    assert _errors(session, "encounters", f"{ENC_HEADER}\n{_enc(dos=str(tomorrow), post=str(tomorrow))}\n") == \
        [f"row 2, column date_of_service: {tomorrow} is in the future."]
    assert import_csv(session, kind="encounters", data=f"{ENC_HEADER}\n{_enc(dos=str(today), post=str(today))}\n",
                      actor=ACTOR).created == 1


def test_rows_of_one_encounter_must_agree(session):
    _parties(session, GOOD_PARTY, "ACME02,Acme Dock,employer,,yes,,,,,,,")
    text = "\n".join([ENC_HEADER, _enc(), _enc(account="P-9", code="99213"), _enc(party="ACME02", code="99214"),
                      _enc(dos="2026-02-27", code="99215"), _enc(post="2026-03-03", code="99216"),
                      _enc(number="E-2", name="Kim Itoh")]) + "\n"
    assert _errors(session, "encounters", text) == [
        "row 3, column patient_account: differs from row 2 of encounter E-1 ('P-1').",
        "row 4, column party_account_code: differs from row 2 of encounter E-1 ('ACME01').",
        "row 5, column date_of_service: differs from row 2 of encounter E-1 ('2026-03-01').",
        "row 6, column post_date: differs from row 2 of encounter E-1 ('2026-03-02').",
        "row 7, column patient_name: patient P-1 is 'Kim Ito' on row 2, 'Kim Itoh' here.",
    ]


def test_whole_file_problems(session, tmp_path):
    assert _errors(session, "parties", "") == \
        [f"row 1: the file is empty; the first row must be the header: {PARTY_HEADER}"]
    assert _errors(session, "parties", " , ,\n") == \
        [f"row 1: the file is empty; the first row must be the header: {PARTY_HEADER}"]
    assert _errors(session, "parties", PARTY_HEADER + "\n\n , \n") == ["row 2: the file has a header but no data rows."]
    assert _errors(session, "parties", b"account_code,\xff\xfe\n") == \
        ["row 1: The file is not UTF-8 text (bad byte at position 13); save it as CSV UTF-8."]
    assert _errors(session, "parties", "account_code\x00,name\n") == ["row 1: The file holds binary data, not CSV text."]
    assert _errors(session, "parties", PARTY_HEADER + ",colour\n") == \
        [f"row 1, column colour: unknown column; the columns are {PARTY_ALLOWED}."]
    long_name = "c" * 50
    assert _errors(session, "parties", PARTY_HEADER + "," + long_name + "\n") == \
        [f"row 1, column {'c' * 37}...: unknown column; the columns are {PARTY_ALLOWED}."]
    assert _errors(session, "parties", PARTY_HEADER + "\nX1,One,employer,,yes\n") == \
        ["row 2: this row has 5 fields; the header has 12."]
    assert _errors(session, "parties", PARTY_HEADER + '\nX1,"One,employer\n') == \
        ["row 2: this row is not valid CSV (unexpected end of data)."]
    assert _errors(session, "parties", '"account_code\n') == \
        ["row 1: the header row is not valid CSV (unexpected end of data)."]
    with pytest.raises(Exception, match=r"^There is no file at .*nothing.csv\.$"):
        import_csv(session, kind="parties", data=tmp_path / "nothing.csv", actor=ACTOR)
    with pytest.raises(Exception, match="^The file is larger than 20 MB; split it into parts.$"):
        import_csv(session, kind="parties", data="x" * (MAX_BYTES + 1), actor=ACTOR)
    with pytest.raises(Exception, match="^The file is larger than 20 MB; split it into parts.$"):
        import_csv(session, kind="parties", data=b"x" * (MAX_BYTES + 1), actor=ACTOR)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (MAX_BYTES + 1))
    with pytest.raises(Exception, match="^The file is larger than 20 MB; split it into parts.$"):
        import_csv(session, kind="parties", data=big, actor=ACTOR)


def test_a_byte_order_mark_and_header_case_and_spaces_are_fine(session):
    text = "\ufeff" + ",".join(f" {c.upper()} " for c in PARTY_COLUMNS) + "\n" + GOOD_PARTY + "\n"
    assert import_csv(session, kind="parties", data=text.encode("utf-8"), actor=ACTOR).created == 1
    assert import_csv(session, kind="parties", data=text, actor=ACTOR).unchanged == 1


def test_very_many_errors_are_cut_with_a_count():
    report = ImportReport(kind="parties", errors=[RowError(n, "", "bad") for n in range(2, 5010)])
    _trim(report)
    assert len(report.errors) == 5001
    assert str(report.errors[-1]) == "row 5002: ... and 8 more errors not listed."
    short = ImportReport(kind="parties", errors=[RowError(n, "", "bad") for n in range(2, 5002)])
    assert len(_trim(short).errors) == 5000


def test_an_encounter_file_makes_patients_encounters_and_numbered_charge_lines(session):
    _parties(session, GOOD_PARTY)
    text = "\n".join([ENC_HEADER, _enc(), _enc(code="99213", desc="Visit", units="2", amount="110.00"),
                      _enc(number="E-2", account="P-2", name="Bo Li", dos="2026-03-05", post="2026-03-05",
                           amount="0")]) + "\n"
    report = import_csv(session, kind="encounters", data=text, actor=ACTOR)
    assert (report.created, report.updated, report.unchanged, report.errors) == (2, 0, 0, [])
    session.commit()
    assert dict(session.execute(sa.select(Patient.account, Patient.name)).all()) == {"P-1": "Kim Ito", "P-2": "Bo Li"}
    e1 = session.execute(sa.select(Encounter).where(Encounter.number == "E-1")).scalar_one()
    assert (e1.date_of_service, e1.post_date, e1.total_cents, e1.voided, e1.self_pay) == \
        (date(2026, 3, 1), date(2026, 3, 2), 15500, False, False)
    lines = session.execute(sa.select(ChargeLine.line_no, ChargeLine.procedure_code, ChargeLine.description,
                                      ChargeLine.units, ChargeLine.amount_cents)
                            .where(ChargeLine.encounter_id == e1.id).order_by(ChargeLine.line_no)).all()
    assert [tuple(r) for r in lines] == [(1, "80305", "Drug screen", 1, 4500), (2, "99213", "Visit", 2, 11000)]

    # The same patient on a new encounter keeps one patient record; a changed encounter is recorded.
    text2 = "\n".join([ENC_HEADER, _enc(amount="50.00"), _enc(code="99213", desc="Visit", units="2", amount="110.00"),
                       _enc(number="E-3", dos="2026-03-06", post="2026-03-06")]) + "\n"
    report = import_csv(session, kind="encounters", data=text2, actor=ACTOR)
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    session.commit()
    assert session.execute(sa.select(sa.func.count()).select_from(Patient)).scalar_one() == 2
    session.refresh(e1)
    assert e1.total_cents == 16000
    changes = _changes(session, "import.encounters")
    assert changes["E-1"]["total"] == ["155.00", "160.00"]
    assert set(changes["E-1"]) == {"total", "charge_lines"}
    # What the file created is named too, every field from nothing to its value.
    assert changes["E-3"]["date_of_service"] == [None, "2026-03-06"]
    assert changes["E-3"]["total"][0] is None
    assert set(changes) == {"E-1", "E-3"}
    e3 = session.execute(sa.select(Encounter.id).where(Encounter.number == "E-3")).scalar_one()
    entry = audit_log(session, action="import.encounters")[0]
    assert [(c.line, c.key, c.record_id, c.action) for c in audit_changes(session, audit_id=entry.id)] == \
        [(2, "E-1", e1.id, "updated"), (4, "E-3", e3, "created")]


def test_template_of_an_unknown_kind_is_refused():
    with pytest.raises(Exception, match="^Unknown import kind 'invoices'; use 'parties' or 'encounters'.$"):
        template_csv("invoices")
    assert template_csv("parties").endswith("\n") and len(template_csv("parties").splitlines()) == 2
