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
from core.models import ChargeLine, Encounter, Group, Invoice, InvoiceLine, Party, Patient
from core.money import from_cents, parse_money, to_cents
from core.roles import ADMIN, Actor
from core.validation import PartyFields, group_name, label

PARTY_COLUMNS = ("account_code", "name", "kind", "group", "billable", "contact_name", "email", "address_line1",
                 "address_line2", "city", "state", "postal_code")
ENCOUNTER_COLUMNS = ("encounter_number", "patient_account", "patient_name", "party_account_code",
                     "date_of_service", "post_date", "procedure_code", "description", "units", "amount")
COLUMNS = {"parties": PARTY_COLUMNS, "encounters": ENCOUNTER_COLUMNS}
# Columns a file may leave out (files written before they existed): a party's Cc addresses (issue 15). Left out,
# an update keeps what the party has.
OPTIONAL_COLUMNS = {"parties": ("email_cc",), "encounters": ()}
MAX_BYTES = 20 * 1024 * 1024
MAX_REPORTED = 5000
# An encounter file's text limits; a parties file's are the party's rules (core.validation.PartyFields).
_LENGTHS = {"encounter_number": 40, "patient_account": 40, "patient_name": 200, "party_account_code": 40,
            "procedure_code": 20, "description": 200}


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
                   "ap@acme.example", "100 Main St", "Suite 4", "Springfield", "IL", "62701",
                   "controller@acme.example, hr@acme.example"]
    elif kind == "encounters":
        example = ["E-10001", "P-5001", "Jordan Smith", "ACME01", "2026-10-01", "2026-10-02", "80305",
                   "Drug screen", "1", "45.00"]
    else:
        raise InvoiceDeskError(f"Unknown import kind '{kind}'; use 'parties' or 'encounters'.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*COLUMNS[kind], *OPTIONAL_COLUMNS[kind]))
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
    if text.count("\r") != text.count("\r\n"):  # lines ended by a carriage return alone (an old Mac export)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.lstrip("\ufeff")


class _FileError(Exception):
    """A problem with the file as a whole, reported as an error on row 1."""


def _lines(text: str) -> Iterator[str]:
    """The file's lines with their endings, one at a time (io.StringIO would hold a second, 4-byte-per-character
    copy of a 20 MB file)."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        stop = end if stop == -1 else stop + 1
        yield text[start:stop]
        start = stop


def _header(text: str, kind: str, report: ImportReport) -> list[str] | None:
    """The header's column names, or None with every problem in the report."""
    expected = COLUMNS[kind]
    reader = csv.reader(_lines(text), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        report.errors.append(RowError(1, "", f"the header row is not valid CSV ({exc})."))
        return None
    if not header or not any(h.strip() for h in header):
        report.errors.append(RowError(1, "", "the file is empty; the first row must be the header: "
                                             + ",".join(expected)))
        return None
    names = [h.strip().lower() for h in header]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            report.errors.append(RowError(1, name, "this column appears twice in the header."))
        seen.add(name)
    for name in expected:
        if name not in seen:
            report.errors.append(RowError(1, name, "this column is missing from the header."))
    allowed = (*expected, *OPTIONAL_COLUMNS[kind])
    for name in names:
        if name not in allowed:
            shown = name if len(name) <= 40 else name[:37] + "..."
            report.errors.append(RowError(1, shown, f"unknown column; the columns are {','.join(allowed)}."))
    return None if report.errors else names


def _records(text: str, names: list[str], errors: list[RowError]) -> Iterator[tuple[int, dict[str, str]]]:
    """The data rows one at a time (line number, column -> trimmed text); a file is read again rather than kept."""
    reader = csv.reader(_lines(text), strict=True)
    next(reader)
    row = 1  # the spreadsheet's row: a cell with a line break in it is still one row
    while True:
        row += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(row, "", f"this row is not valid CSV ({exc})."))
            return
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            errors.append(RowError(row, "", f"this row has {len(values)} fields; the header has {len(names)}."))
            continue
        yield row, {n: v.strip() for n, v in zip(names, values, strict=True)}


def _check_lengths(line: int, row: dict[str, str], errors: list[RowError]) -> bool:
    ok = True
    for name, limit in _LENGTHS.items():
        if name in row and len(row[name]) > limit:
            errors.append(RowError(line, name, f"{label(name)} is {len(row[name]):,} characters long; shorten it to "
                                               f"at most {limit:,}."))
            ok = False
    return ok


def _date(text: str) -> date | None:
    day = parse_date(text)
    return day if day is not None and EARLIEST <= day <= LATEST else None


def _chunks(values: Iterable) -> Iterator[list]:
    """A long sequence in pieces of CHUNK: for IN (...) lists and for writing a big file a part at a time."""
    items: list = []
    for value in values:
        items.append(value)
        if len(items) == locking.CHUNK:
            yield items
            items = []
    if items:
        yield items


@guarded
def import_csv(session: Session, *, kind: str, data: bytes | str | Path, actor: str | Actor) -> ImportReport:
    """Import a parties or encounters CSV whole, or nothing with every bad row in the report.

    The file is checked row by row first; then, with the parties locked, compared with the database a chunk
    at a time; only when nothing is wrong is it written, a chunk at a time, with one audit record for the
    file and one linked record per created or changed row (core.audit.audit_changes).
    """
    actor = audit.require_actor(actor, ADMIN)
    if kind not in COLUMNS:
        raise InvoiceDeskError(f"Unknown import kind '{kind}'; use 'parties' or 'encounters'.")
    report = ImportReport(kind=kind)
    try:
        text = _read_text(data)
    except _FileError as exc:
        report.errors.append(RowError(1, "", str(exc)))
        return report
    names = _header(text, kind, report)
    if names is None:
        return _trim(report)
    digest = hashlib.sha256()
    for start in range(0, len(text), 1 << 20):  # a megabyte at a time: no second copy of a 20 MB file
        digest.update(text[start:start + (1 << 20)].encode())
    importer = _PartyImport if kind == "parties" else _EncounterImport
    job = importer(session, text, names, report)
    job.check_rows()
    if report.errors:
        return _trim(report)
    if not job.rows:
        report.errors.append(RowError(2, "", "the file has a header but no data rows."))
        return report
    # Imports take turns, and each locks the parties it touches before reading what it compares with.
    locking.lock_imports(session)
    job.lock()
    job.compare()
    if report.errors:
        # Nothing was written: every check runs before the first write.
        return _trim(report)
    audit_id = audit.record(session, actor=actor, action=f"import.{kind}", entity=kind,
                            detail={"rows": job.rows, "created": report.created, "updated": report.updated,
                                    "unchanged": report.unchanged, "sha256": digest.hexdigest()})
    job.write(audit_id)
    return report


def _trim(report: ImportReport) -> ImportReport:
    if len(report.errors) > MAX_REPORTED:
        more = len(report.errors) - MAX_REPORTED
        report.errors = report.errors[:MAX_REPORTED] + [
            RowError(report.errors[MAX_REPORTED].row, "", f"... and {more} more errors not listed.")]
    return report


class _Pool(dict):
    """One copy of each repeated text (a party code, a patient, a procedure) for all the rows that share it."""

    def __call__(self, text: str) -> str:
        return self.setdefault(text, text)


# ---------- parties ----------

class _PartyImport:
    def __init__(self, session: Session, text: str, names: list[str], report: ImportReport) -> None:
        self.session, self.text, self.names, self.report = session, text, names, report
        self.rows = 0
        self.groups: dict[str, str] = {}  # lower-case name -> the name as first written in the file
        self.group_ids: dict[str, int] = {}  # lower-case name -> id

    def _values(self, line: int, row: dict[str, str], errors: list[RowError]) -> tuple[str, dict] | None:
        """One row through the party's rules (the same create_party and update_party use)."""
        fields = {name: row[name] for name in (*PARTY_COLUMNS, *OPTIONAL_COLUMNS["parties"])
                  if name != "group" and name in row}
        clean, found = PartyFields.check(fields, csv=True)
        for name, message in found:
            errors.append(RowError(line, name, message))
        group = row["group"]
        if group:
            try:
                group = group_name(group)
            except InvoiceDeskError as exc:
                errors.append(RowError(line, "group", str(exc)))
                return None
        if found:
            return None
        clean["group"] = group
        return clean.pop("account_code"), clean

    def check_rows(self) -> None:
        errors = self.report.errors
        first_line: dict[str, int] = {}
        for line, row in _records(self.text, self.names, errors):
            self.rows += 1
            checked = self._values(line, row, errors)
            code = row["account_code"]
            if code and code in first_line:
                errors.append(RowError(line, "account_code", f"'{code}' is also on row {first_line[code]}."))
                continue
            first_line.setdefault(code, line)
            if checked and checked[1]["group"]:
                self.groups.setdefault(checked[1]["group"].lower(), checked[1]["group"])

    def _file(self) -> Iterator[list[tuple[int, str, dict]]]:
        """The file's rows again, checked, in chunks."""
        def rows() -> Iterator[tuple[int, str, dict]]:
            for line, row in _records(self.text, self.names, []):
                checked = self._values(line, row, [])
                if checked is not None:  # every row passed check_rows; nothing is skipped here
                    yield line, *checked

        return _chunks(rows())

    def lock(self) -> None:
        s = self.session
        g = Group.__table__
        # A group is matched without regard to case, as create_group refuses a second "acme group".
        for group_id, name in s.execute(sa.select(g.c.id, g.c.name)).all():
            self.group_ids.setdefault(name.lower(), group_id)
        ids = [i for chunk in self._file() for i in s.execute(
            sa.select(col(Party.id)).where(col(Party.account_code).in_([code for _, code, _ in chunk]))).scalars()]
        locking.lock_parties(s, ids)

    def _existing(self, codes: list[str]) -> dict[str, sa.Row]:
        p = Party.__table__
        return {r.account_code: r for r in self.session.execute(sa.select(p).where(p.c.account_code.in_(codes)))}

    def _stored(self, values: dict) -> dict:
        values = dict(values)
        group = values.pop("group")
        values["group_id"] = self.group_ids.get(group.lower()) if group else None
        return values

    def compare(self) -> None:
        for chunk in self._file():
            existing = self._existing([code for _, code, _ in chunk])
            for _, code, values in chunk:
                old = existing.get(code)
                new = self._stored(values) if not values["group"] or values["group"].lower() in self.group_ids \
                    else None
                if old is None:
                    self.report.created += 1
                elif new is None or any(getattr(old, k) != v for k, v in new.items()):
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1

    def write(self, audit_id: int) -> None:
        s, p = self.session, Party.__table__
        for lower, name in self.groups.items():
            if lower not in self.group_ids:
                self.group_ids[lower] = s.execute(sa.insert(Group.__table__).values(name=name)
                                                  .returning(Group.__table__.c.id)).scalar_one()
        for chunk in self._file():
            existing = self._existing([code for _, code, _ in chunk])
            creates, updates, changes = [], [], []
            for line, code, values in chunk:
                new, old = self._stored(values), existing.get(code)
                if old is None:
                    creates.append((line, code, new))
                    continue
                changed = {k: [getattr(old, k), v] for k, v in new.items() if getattr(old, k) != v}
                if changed:
                    updates.append({"_id": old.id, **new})
                    changes.append((line, "party", old.id, code, "updated", changed))
            if creates:
                made = dict(s.execute(sa.insert(p).returning(p.c.account_code, p.c.id),
                                      [{"account_code": code, **new} for _, code, new in creates]).all())
                # What a file created is named too, every field from nothing to its value.
                changes += [(line, "party", made[code], code, "created",
                             {k: [None, v] for k, v in new.items() if v not in ("", None)})
                            for line, code, new in creates]
            if updates:
                s.execute(sa.update(p).where(p.c.id == sa.bindparam("_id")), updates)
            audit.record_changes(s, audit_id, sorted(changes, key=lambda change: change[0]))
        expire_loaded(s, Party)


# ---------- encounters ----------

@dataclass(slots=True)
class _Visit:
    """One encounter of the file, as compact as it can be: 200,000 of them are held while the file is checked."""

    line: int
    patient_account: str
    party_code: str
    dos: date
    post: date
    charges: tuple[tuple[str, str, int, int], ...] = ()

    @property
    def total_cents(self) -> int:
        return sum(c[3] for c in self.charges)


_ENCOUNTER_REQUIRED = ("encounter_number", "patient_account", "patient_name", "party_account_code", "procedure_code")


class _EncounterImport:
    def __init__(self, session: Session, text: str, names: list[str], report: ImportReport) -> None:
        self.session, self.text, self.names, self.report = session, text, names, report
        self.rows = 0
        self.visits: dict[str, _Visit] = {}
        self.patient_names: dict[str, tuple[int, str]] = {}
        self.parties: dict[str, int] = {}
        self.locked: list[int] = []

    def check_rows(self) -> None:
        errors, visits, names = self.report.errors, self.visits, self.patient_names
        today = clock.today(self.session)
        pool, days = _Pool(), dict[str, date | None]()
        for line, row in _records(self.text, self.names, errors):
            self.rows += 1
            if not _check_lengths(line, row, errors):
                continue
            bad = False
            for name in _ENCOUNTER_REQUIRED:
                if not row[name]:
                    errors.append(RowError(line, name, f"{label(name)} is required."))
                    bad = True
            dates: dict[str, date | None] = {}
            for name in ("date_of_service", "post_date"):
                text = row[name]
                dates[name] = days[text] if text in days else days.setdefault(text, _date(text))
                if dates[name] is None:
                    errors.append(RowError(line, name, f"'{text}' is not a date; use YYYY-MM-DD or MM/DD/YYYY."))
                    bad = True
            dos, post = dates["date_of_service"], dates["post_date"]
            if dos and dos > today:
                errors.append(RowError(line, "date_of_service", f"{dos} is in the future."))
                bad = True
            if dos and post and post < dos:
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
                first = names.setdefault(pool(account), (line, pool(pname)))
                if first[1] != pname:
                    errors.append(RowError(line, "patient_name",
                                           f"patient {account} is '{first[1]}' on row {first[0]}, '{pname}' here."))
                    bad = True
            if bad:
                continue
            number = row["encounter_number"]
            visit = visits.get(number)
            if visit is None:
                assert dos is not None and post is not None  # a row with a bad date was refused above
                visit = visits[number] = _Visit(line, pool(account), pool(row["party_account_code"]), dos, post)
            else:
                for name, mine, theirs in (("patient_account", account, visit.patient_account),
                                           ("party_account_code", row["party_account_code"], visit.party_code),
                                           ("date_of_service", dos, visit.dos), ("post_date", post, visit.post)):
                    if mine != theirs:
                        errors.append(RowError(line, name, f"differs from row {visit.line} of encounter {number} "
                                                           f"('{theirs}')."))
                        bad = True
                if bad:
                    continue
            visit.charges += ((pool(row["procedure_code"]), pool(row["description"]), units, amount),)
        self.parties = _party_ids(self.session, {v.party_code for v in visits.values()})
        for visit in visits.values():
            if visit.party_code not in self.parties:
                errors.append(RowError(visit.line, "party_account_code",
                                       f"there is no bill-to party '{visit.party_code}'; import parties first."))

    def lock(self) -> None:
        # The file's parties and the parties the encounters it changes are billed to now, locked by id; then the
        # encounters are read again, so one being invoiced this moment is seen as invoiced (domain rule 15).
        s = self.session
        billed_to = {p for chunk in _chunks(self.visits) for p in s.execute(
            sa.select(col(Encounter.party_id)).where(col(Encounter.number).in_(chunk)).distinct()).scalars()}
        self.locked = locking.lock_parties(s, {*self.parties.values(), *billed_to})
        # A party's account code may have changed while this import waited: the codes must still name the same
        # parties.
        if _party_ids(s, set(self.parties)) != self.parties:
            raise ConcurrencyError("Another manager changed a party's account code while this file was being "
                                   "imported; nothing was imported. Check the codes and import again.")

    def _existing(self, numbers: list[str]) -> tuple[dict[str, sa.Row], dict[int, list[tuple]], dict[int, str]]:
        """The chunk's encounters already in the database, their charge lines, and the invoice each is on."""
        s, e, p = self.session, Encounter.__table__, Patient.__table__
        existing = {r.number: r for r in s.execute(
            sa.select(e.c.id, e.c.number, e.c.party_id, e.c.date_of_service, e.c.post_date, e.c.total_cents,
                      p.c.account.label("patient_account"))
            .select_from(e.outerjoin(p, p.c.id == e.c.patient_id)).where(e.c.number.in_(numbers)))}
        locking.require_locked(self.locked, [r.party_id for r in existing.values()])
        ids = [r.id for r in existing.values()]
        lines: dict[int, list[tuple]] = defaultdict(list)
        invoiced: dict[int, str] = {}
        if ids:
            c = ChargeLine.__table__
            for r in s.execute(sa.select(c.c.encounter_id, c.c.procedure_code, c.c.description, c.c.units,
                                         c.c.amount_cents).where(c.c.encounter_id.in_(ids))
                               .order_by(c.c.encounter_id, c.c.line_no)):
                lines[r.encounter_id].append((r.procedure_code, r.description, r.units, r.amount_cents))
            invoiced.update(s.execute(
                sa.select(col(InvoiceLine.encounter_id), sa.func.min(col(Invoice.number))).join(Invoice)
                .where(col(InvoiceLine.encounter_id).in_(ids)).group_by(col(InvoiceLine.encounter_id))).all())
        return existing, lines, invoiced

    def _changes(self, numbers: list[str]) -> Iterator[tuple[str, _Visit, sa.Row | None, dict | None]]:
        """For each number: the visit, the row it replaces (None: new) and what changes (None: nothing)."""
        existing, lines, invoiced = self._existing(numbers)
        for number in numbers:
            visit, old = self.visits[number], existing.get(number)
            party_id = self.parties[visit.party_code]
            if old is None:
                yield number, visit, None, {
                    "party_id": [None, party_id], "date_of_service": [None, visit.dos], "post_date": [None, visit.post],
                    "patient_account": [None, visit.patient_account], "total": [None, from_cents(visit.total_cents)],
                    "charge_lines": [None, list(visit.charges)]}
                continue
            changed = {name: [was, now] for name, was, now in (
                ("party_id", old.party_id, party_id), ("date_of_service", old.date_of_service, visit.dos),
                ("post_date", old.post_date, visit.post),
                ("patient_account", old.patient_account, visit.patient_account),
                ("total", from_cents(old.total_cents), from_cents(visit.total_cents)),
                ("charge_lines", lines[old.id], list(visit.charges))) if was != now}
            if changed and old.id in invoiced:
                self.report.errors.append(RowError(
                    visit.line, "encounter_number", f"encounter {number} is on invoice {invoiced[old.id]} and cannot "
                                                    "be changed by an import; correct it with a credit memo."))
            yield number, visit, old, changed or None

    def compare(self) -> None:
        for chunk in _chunks(self.visits):
            for _, _, old, changed in self._changes(chunk):
                if old is None:
                    self.report.created += 1
                elif changed is None:
                    self.report.unchanged += 1
                else:
                    self.report.updated += 1
        if self.report.errors:
            self.report.created = self.report.updated = self.report.unchanged = 0

    def write(self, audit_id: int) -> None:
        s, enc_t, line_t, pat_t = self.session, Encounter.__table__, ChargeLine.__table__, Patient.__table__
        patients: dict[str, int] = {}
        for accounts in _chunks(self.patient_names):
            patients.update(s.execute(sa.select(pat_t.c.account, pat_t.c.id)
                                      .where(pat_t.c.account.in_(accounts))).all())
            new = [{"account": a, "name": self.patient_names[a][1]} for a in accounts if a not in patients]
            if new:
                patients.update(s.execute(sa.insert(pat_t).returning(pat_t.c.account, pat_t.c.id), new).all())
        updated: list[int] = []
        for chunk in _chunks(self.visits):
            creates, updates = [], []
            records: list[tuple[int, str, int | None, str, dict]] = []
            for number, visit, old, changed in self._changes(chunk):
                row = {"patient_id": patients[visit.patient_account], "party_id": self.parties[visit.party_code],
                       "date_of_service": visit.dos, "post_date": visit.post, "total_cents": visit.total_cents}
                if old is None:
                    creates.append({"number": number, "voided": False, "self_pay": False, **row})
                    records.append((visit.line, number, None, "created", changed or {}))
                elif changed is not None:
                    updates.append({"_id": old.id, **row})
                    records.append((visit.line, number, old.id, "updated", changed))
            made = dict(s.execute(sa.insert(enc_t).returning(enc_t.c.number, enc_t.c.id), creates).all()) \
                if creates else {}
            if updates:
                ids = [u["_id"] for u in updates]
                s.execute(sa.delete(line_t).where(line_t.c.encounter_id.in_(ids)))
                s.execute(sa.update(enc_t).where(enc_t.c.id == sa.bindparam("_id")), updates)
                made.update({number: old_id for _, number, old_id, action, _ in records if action == "updated"})
                updated += ids
            lines = [{"encounter_id": made[number], "line_no": n, "procedure_code": c[0], "description": c[1],
                      "units": c[2], "amount_cents": c[3]}
                     for _, number, _, _, _ in records for n, c in enumerate(self.visits[number].charges, start=1)]
            if lines:
                s.execute(sa.insert(line_t), lines)
            audit.record_changes(s, audit_id, [(line, "encounter", made[number], number, action, changed)
                                               for line, number, _, action, changed in records])
        expire_loaded(s, Encounter, updated)
        expire_loaded(s, ChargeLine)


def _party_ids(session: Session, codes: set[str]) -> dict[str, int]:
    return {code: party_id for chunk in _chunks(codes) for code, party_id in session.execute(
        sa.select(col(Party.account_code), col(Party.id)).where(col(Party.account_code).in_(chunk))).all()}
