"""CSV import of bill-to parties, groups and encounters: whole file or nothing, every bad row reported."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col

from core import audit, clock, locking
from core.dates import EARLIEST, LATEST, parse_date
from core.db import expire_loaded, guarded
from core.errors import ConcurrencyError, InvoiceDeskError
from core.inputs import is_email
from core.models import PARTY_KINDS, ChargeLine, Encounter, Group, Invoice, InvoiceLine, Party, Patient
from core.money import from_cents, parse_money, to_cents

PARTY_COLUMNS = ("account_code", "name", "kind", "group", "billable", "contact_name", "email", "address_line1",
                 "address_line2", "city", "state", "postal_code")
ENCOUNTER_COLUMNS = ("encounter_number", "patient_account", "patient_name", "party_account_code",
                     "date_of_service", "post_date", "procedure_code", "description", "units", "amount")
COLUMNS = {"parties": PARTY_COLUMNS, "encounters": ENCOUNTER_COLUMNS}
MAX_BYTES = 20 * 1024 * 1024
MAX_REPORTED = 5000
_LENGTHS = {"account_code": 40, "name": 200, "group": 200, "contact_name": 200, "email": 200,
            "address_line1": 200, "address_line2": 200, "city": 100, "state": 40, "postal_code": 20,
            "encounter_number": 40, "patient_account": 40, "patient_name": 200, "party_account_code": 40,
            "procedure_code": 20, "description": 200}
_YES, _NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def template_csv(kind: str) -> str:
    """A header and one example row, for the downloadable template."""
    if kind == "parties":
        example = ["ACME01", "Acme Manufacturing", "employer", "Acme Group", "yes", "Pat Lee",
                   "ap@acme.example", "100 Main St", "Suite 4", "Springfield", "IL", "62701"]
    elif kind == "encounters":
        example = ["E-10001", "P-5001", "Jordan Smith", "ACME01", "2026-10-01", "2026-10-02", "80305",
                   "Drug screen", "1", "45.00"]
    else:
        raise InvoiceDeskError(f"Unknown import kind '{kind}'; use 'parties' or 'encounters'.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[kind])
    writer.writerow(example)
    return out.getvalue()


def _read_text(data: bytes | str | Path) -> str:
    if isinstance(data, Path):
        if not data.is_file():
            raise InvoiceDeskError(f"There is no file at {data}.")
        if data.stat().st_size > MAX_BYTES:
            raise InvoiceDeskError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into parts.")
        data = data.read_bytes()
    if isinstance(data, str):
        text = data
        if len(text) > MAX_BYTES:
            raise InvoiceDeskError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into parts.")
    else:
        if len(data) > MAX_BYTES:
            raise InvoiceDeskError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into parts.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _FileError(f"The file is not UTF-8 text (bad byte at position {exc.start}); save it as CSV UTF-8.") from None
    if "\x00" in text:
        raise _FileError("The file holds binary data, not CSV text.")
    return text.lstrip("\ufeff")


class _FileError(Exception):
    """A problem with the file as a whole, reported as an error on row 1."""


def _rows(text: str, kind: str, report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    expected = COLUMNS[kind]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        report.errors.append(RowError(1, "", f"the header row is not valid CSV ({exc})."))
        return []
    if not header or not any(h.strip() for h in header):
        report.errors.append(RowError(1, "", "the file is empty; the first row must be the header: "
                                             + ",".join(expected)))
        return []
    names = [h.strip().lower() for h in header]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            report.errors.append(RowError(1, name, "this column appears twice in the header."))
        seen.add(name)
    for name in expected:
        if name not in seen:
            report.errors.append(RowError(1, name, "this column is missing from the header."))
    for name in names:
        if name not in expected:
            shown = name if len(name) <= 40 else name[:37] + "..."
            report.errors.append(RowError(1, shown, f"unknown column; the columns are {','.join(expected)}."))
    if report.errors:
        return []
    rows = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.errors.append(RowError(reader.line_num, "", f"this row is not valid CSV ({exc})."))
            break
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            report.errors.append(RowError(reader.line_num, "",
                                          f"this row has {len(values)} fields; the header has {len(names)}."))
            continue
        rows.append((reader.line_num, {n: v.strip() for n, v in zip(names, values, strict=True)}))
    return rows


def _check_lengths(line: int, row: dict[str, str], errors: list[RowError]) -> bool:
    ok = True
    for name, limit in _LENGTHS.items():
        if name in row and len(row[name]) > limit:
            errors.append(RowError(line, name, f"is {len(row[name])} characters long; at most {limit}."))
            ok = False
    return ok


def _date(text: str) -> date | None:
    day = parse_date(text)
    return day if day is not None and EARLIEST <= day <= LATEST else None


@guarded
def import_csv(session: Session, *, kind: str, data: bytes | str | Path, actor: str) -> ImportReport:
    """Import a parties or encounters CSV whole, or nothing with every bad row in the report."""
    actor = audit.require_actor(actor)
    if kind not in COLUMNS:
        raise InvoiceDeskError(f"Unknown import kind '{kind}'; use 'parties' or 'encounters'.")
    report = ImportReport(kind=kind)
    try:
        text = _read_text(data)
    except _FileError as exc:
        report.errors.append(RowError(1, "", str(exc)))
        return report
    rows = _rows(text, kind, report)
    if report.errors:
        return _trim(report)
    if not rows:
        report.errors.append(RowError(2, "", "the file has a header but no data rows."))
        return report
    digest = hashlib.sha256(text.encode()).hexdigest()
    # Imports take turns, and each locks the parties it touches before reading what it compares with.
    locking.lock_imports(session)
    if kind == "parties":
        written = _import_parties(session, rows, report)
    else:
        written = _import_encounters(session, rows, report)
    if report.errors or written is None:
        # Nothing was written: every check runs before the first write.
        return _trim(report)
    ids, changes = written
    audit.record(session, actor=actor, action=f"import.{kind}", entity=kind, ids=ids,
                 detail={"rows": len(rows), "created": report.created, "updated": report.updated,
                         "unchanged": report.unchanged, "sha256": digest, "changes": changes})
    return report


def _trim(report: ImportReport) -> ImportReport:
    if len(report.errors) > MAX_REPORTED:
        more = len(report.errors) - MAX_REPORTED
        report.errors = report.errors[:MAX_REPORTED] + [
            RowError(report.errors[MAX_REPORTED].row, "", f"... and {more} more errors not listed.")]
    return report


# ---------- parties ----------

def _import_parties(session: Session, rows: list[tuple[int, dict[str, str]]], report: ImportReport) -> tuple[list[int], dict] | None:
    errors = report.errors
    wanted: dict[str, tuple[int, dict]] = {}
    for line, row in rows:
        if not _check_lengths(line, row, errors):
            continue
        bad = False
        for name in ("account_code", "name"):
            if not row[name]:
                errors.append(RowError(line, name, "is required."))
                bad = True
        kind = row["kind"].lower()
        if kind not in PARTY_KINDS:
            errors.append(RowError(line, "kind", f"'{row['kind']}' is not 'employer' or 'attorney'."))
            bad = True
        billable = row["billable"].lower()
        if billable not in _YES | _NO:
            errors.append(RowError(line, "billable", f"'{row['billable']}' is not 'yes' or 'no'."))
            bad = True
        if row["email"] and not is_email(row["email"]):
            errors.append(RowError(line, "email", f"'{row['email']}' is not an e-mail address."))
            bad = True
        code = row["account_code"]
        if code and code in wanted:
            errors.append(RowError(line, "account_code", f"'{code}' is also on row {wanted[code][0]}."))
            bad = True
        if bad:
            continue
        wanted[code] = (line, {
            "name": row["name"], "kind": kind, "group": row["group"], "billable": billable in _YES,
            "contact_name": row["contact_name"], "email": row["email"], "address_line1": row["address_line1"],
            "address_line2": row["address_line2"], "city": row["city"], "state": row["state"],
            "postal_code": row["postal_code"],
        })
    if errors:
        return None
    groups = {g.name: g for g in session.execute(sa.select(Group)).scalars()}
    for name in sorted({v["group"] for _, v in wanted.values() if v["group"]} - set(groups)):
        group = Group(name=name)
        session.add(group)
        groups[name] = group
    session.flush()
    ids = [i for codes in _chunks(wanted) for i in session.execute(
        sa.select(col(Party.id)).where(col(Party.account_code).in_(codes))).scalars()]
    locking.lock_parties(session, ids)
    existing = {p.account_code: p for codes in _chunks(wanted) for p in session.execute(
        sa.select(Party).where(col(Party.account_code).in_(codes))
        .execution_options(populate_existing=True)).scalars()}
    written, changes = [], {}
    for code, (_, values) in wanted.items():
        values = dict(values)
        group_name = values.pop("group")
        values["group_id"] = groups[group_name].id if group_name else None
        party = existing.get(code)
        if party is None:
            written.append(Party(account_code=code, **values))
            session.add(written[-1])
            report.created += 1
            # The audit record names what a file created too, every field from nothing to its value.
            changes[code] = {k: [None, v] for k, v in values.items() if v not in ("", None)}
        elif any(getattr(party, k) != v for k, v in values.items()):
            changes[code] = {k: [getattr(party, k), v] for k, v in values.items() if getattr(party, k) != v}
            for k, v in values.items():
                setattr(party, k, v)
            session.add(party)
            written.append(party)
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    return sorted(p.id for p in written), changes


# ---------- encounters ----------

@dataclass
class _EncounterIn:
    line: int
    number: str
    patient_account: str
    patient_name: str
    party_code: str
    dos: date
    post: date
    charges: list[tuple[str, str, int, int]] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(c[3] for c in self.charges)


def _parse_encounter_rows(rows, errors: list[RowError], today: date) -> dict[str, _EncounterIn]:
    encounters: dict[str, _EncounterIn] = {}
    patient_names: dict[str, tuple[int, str]] = {}
    for line, row in rows:
        if not _check_lengths(line, row, errors):
            continue
        bad = False
        for name in ("encounter_number", "patient_account", "patient_name", "party_account_code", "procedure_code"):
            if not row[name]:
                errors.append(RowError(line, name, "is required."))
                bad = True
        dates: dict[str, date | None] = {}
        for name in ("date_of_service", "post_date"):
            dates[name] = _date(row[name])
            if dates[name] is None:
                errors.append(RowError(line, name, f"'{row[name]}' is not a date; use YYYY-MM-DD or MM/DD/YYYY."))
                bad = True
        if dates["date_of_service"] and dates["date_of_service"] > today:
            errors.append(RowError(line, "date_of_service", f"{dates['date_of_service']} is in the future."))
            bad = True
        if dates["date_of_service"] and dates["post_date"] and dates["post_date"] < dates["date_of_service"]:
            errors.append(RowError(line, "post_date", "is before the date of service."))
            bad = True
        units = 0
        if re.fullmatch(r"\d{1,6}", row["units"]) and int(row["units"]) > 0:
            units = int(row["units"])
        else:
            errors.append(RowError(line, "units", f"'{row['units']}' is not a whole number above zero."))
            bad = True
        try:
            amount = to_cents(parse_money(row["amount"], field="amount", allow_zero=True))
        except InvoiceDeskError as exc:
            errors.append(RowError(line, "amount", str(exc)))
            bad = True
        account, pname = row["patient_account"], row["patient_name"]
        if account and pname:
            first = patient_names.setdefault(account, (line, pname))
            if first[1] != pname:
                errors.append(RowError(line, "patient_name",
                                       f"patient {account} is '{first[1]}' on row {first[0]}, '{pname}' here."))
                bad = True
        if bad:
            continue
        number = row["encounter_number"]
        enc = encounters.get(number)
        if enc is None:
            dos, post = dates["date_of_service"], dates["post_date"]
            assert dos is not None and post is not None  # a row with a bad date was refused above
            enc = encounters[number] = _EncounterIn(line, number, account, pname, row["party_account_code"], dos, post)
        else:
            for name, mine, theirs in (("patient_account", account, enc.patient_account),
                                       ("party_account_code", row["party_account_code"], enc.party_code),
                                       ("date_of_service", dates["date_of_service"], enc.dos),
                                       ("post_date", dates["post_date"], enc.post)):
                if mine != theirs:
                    errors.append(RowError(line, name, f"differs from row {enc.line} of encounter {number} "
                                                       f"('{theirs}')."))
                    bad = True
            if bad:
                continue
        enc.charges.append((row["procedure_code"], row["description"], units, amount))
    return encounters


def _chunks(values: Iterable) -> Iterator[list]:
    """A long list for IN (...) in pieces: one parameter per row would pass the databases' limits on a big file."""
    items = list(values)
    for start in range(0, len(items), locking.CHUNK):
        yield items[start:start + locking.CHUNK]


def _party_ids(session: Session, codes: set[str]) -> dict[str, int]:
    return {code: party_id for chunk in _chunks(codes) for code, party_id in session.execute(
        sa.select(col(Party.account_code), col(Party.id)).where(col(Party.account_code).in_(chunk))).all()}


def _import_encounters(session: Session, rows, report: ImportReport) -> tuple[list[int], dict] | None:
    errors = report.errors
    wanted = _parse_encounter_rows(rows, errors, clock.today(session))
    parties = _party_ids(session, {e.party_code for e in wanted.values()})
    for enc in wanted.values():
        if enc.party_code not in parties:
            errors.append(RowError(enc.line, "party_account_code",
                                   f"there is no bill-to party '{enc.party_code}'; import parties first."))
    if errors:
        return None

    # The file's parties and the parties the encounters it changes are billed to now, locked by id; then the
    # encounters are read again, so one being invoiced this moment is seen as invoiced (domain rule 15).
    numbers = list(wanted)
    billed_to = {p for chunk in _chunks(numbers) for p in session.execute(
        sa.select(col(Encounter.party_id)).where(col(Encounter.number).in_(chunk)).distinct()).scalars()}
    locked = locking.lock_parties(session, {*parties.values(), *billed_to})
    # A party's account code may have changed while this import waited: the codes must still name the same parties.
    if _party_ids(session, set(parties)) != parties:
        raise ConcurrencyError("Another manager changed a party's account code while this file was being imported; "
                               "nothing was imported. Check the codes and import again.")
    existing = {e.number: e for chunk in _chunks(numbers) for e in session.execute(
        sa.select(Encounter).where(col(Encounter.number).in_(chunk)).execution_options(populate_existing=True)
    ).scalars()}
    locking.require_locked(locked, [e.party_id for e in existing.values()])
    old_lines: dict[int, list[tuple]] = defaultdict(list)
    invoiced: dict[int, str] = {}
    if existing:
        for ids in _chunks(e.id for e in existing.values()):
            for cl in session.execute(sa.select(ChargeLine).where(col(ChargeLine.encounter_id).in_(ids))
                                      .order_by(col(ChargeLine.encounter_id), col(ChargeLine.line_no))).scalars():
                old_lines[cl.encounter_id].append((cl.procedure_code, cl.description, cl.units, cl.amount_cents))
            invoiced.update(session.execute(
                sa.select(col(InvoiceLine.encounter_id), sa.func.min(col(Invoice.number))).join(Invoice)
                .where(col(InvoiceLine.encounter_id).in_(ids)).group_by(col(InvoiceLine.encounter_id))).all())
    patients = {account: patient_id for accounts in _chunks({e.patient_account for e in wanted.values()})
                for account, patient_id in session.execute(sa.select(col(Patient.account), col(Patient.id))
                                                           .where(col(Patient.account).in_(accounts))).all()}
    patient_ids_to_account = {v: k for k, v in patients.items()}

    creates, updates, changes = [], [], {}
    for enc in wanted.values():
        old = existing.get(enc.number)
        if old is None:
            creates.append(enc)
            changes[enc.number] = {"party_id": [None, parties[enc.party_code]], "date_of_service": [None, enc.dos],
                                   "post_date": [None, enc.post], "patient_account": [None, enc.patient_account],
                                   "total": [None, from_cents(enc.total_cents)], "charge_lines": [None, enc.charges]}
            continue
        same = (old.party_id == parties[enc.party_code] and old.date_of_service == enc.dos
                and old.post_date == enc.post and patient_ids_to_account.get(old.patient_id) == enc.patient_account
                and old_lines[old.id] == enc.charges)
        if same:
            report.unchanged += 1
        elif old.id in invoiced:
            errors.append(RowError(enc.line, "encounter_number",
                                   f"encounter {enc.number} is on invoice {invoiced[old.id]} and cannot be changed "
                                   "by an import; correct it with a credit memo."))
        else:
            updates.append((old, enc))
            changes[enc.number] = {name: [was, now] for name, was, now in (
                ("party_id", old.party_id, parties[enc.party_code]), ("date_of_service", old.date_of_service, enc.dos),
                ("post_date", old.post_date, enc.post),
                ("patient_account", patient_ids_to_account.get(old.patient_id), enc.patient_account),
                ("total", from_cents(old.total_cents), from_cents(enc.total_cents)),
                ("charge_lines", old_lines[old.id], enc.charges)) if was != now}
    if errors:
        return None

    # Writes start here, after every check has passed.
    new_patients = {e.patient_account: e.patient_name for e in wanted.values() if e.patient_account not in patients}
    if new_patients:
        result = session.execute(sa.insert(Patient.__table__).returning(Patient.__table__.c.account,
                                                                        Patient.__table__.c.id),
                                 [{"account": a, "name": n} for a, n in new_patients.items()])
        patients.update(dict(result.all()))
    enc_t, line_t = Encounter.__table__, ChargeLine.__table__
    made: dict[str, int] = {}
    if creates:
        result = session.execute(sa.insert(enc_t).returning(enc_t.c.number, enc_t.c.id), [
            {"number": e.number, "patient_id": patients[e.patient_account], "party_id": parties[e.party_code],
             "date_of_service": e.dos, "post_date": e.post, "total_cents": e.total_cents, "voided": False,
             "self_pay": False} for e in creates])
        made.update({number: encounter_id for number, encounter_id in result.all()})
    if updates:
        for ids in _chunks(old.id for old, _ in updates):
            session.execute(sa.delete(line_t).where(line_t.c.encounter_id.in_(ids)))
        for old, e in updates:
            session.execute(sa.update(enc_t).where(enc_t.c.id == old.id).values(
                patient_id=patients[e.patient_account], party_id=parties[e.party_code], date_of_service=e.dos,
                post_date=e.post, total_cents=e.total_cents))
            made[e.number] = old.id
    lines = [{"encounter_id": made[e.number], "line_no": n, "procedure_code": c[0], "description": c[1],
              "units": c[2], "amount_cents": c[3]}
             for e in creates + [u for _, u in updates] for n, c in enumerate(e.charges, start=1)]
    if lines:
        session.execute(sa.insert(line_t), lines)
    report.created, report.updated = len(creates), len(updates)
    expire_loaded(session, Encounter, [old.id for old, _ in updates])
    expire_loaded(session, ChargeLine)
    return sorted(made.values()), changes
