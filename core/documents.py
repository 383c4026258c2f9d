"""PDF documents: invoices and reprints, whole batches, credit memos and account statements.

Each document is drawn from what was true when it was first made (the batch's profile version,
the batch item's snapshot and bill-to block, the payments and credits allocated by then), so a
reprint is byte-for-byte the same; its SHA-256 is archived the first time to prove it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import jinja2
import markupsafe
import reportlab.rl_config
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from core import as_of as as_of_sql
from core import clock
from core.accounts import party_account
from core.db import READ_ONLY, get_record, guarded, transaction
from core.errors import InvoiceDeskError, NotFoundError
from core.models import (
    Allocation,
    Batch,
    BatchItem,
    ChargeLine,
    CreditAction,
    CreditMemo,
    CreditMemoLine,
    Document,
    Encounter,
    Invoice,
    InvoiceLine,
    InvoiceProfile,
    Party,
    Patient,
    Receipt,
    WriteOff,
)
from core.money import format_money, from_cents
from core.numbering import credit_memo_number, receipt_number, write_off_number
from core.pdf_worker import render_in_workers

# Fixed creation date and document id: the same content gives the same bytes.
reportlab.rl_config.invariant = 1

TEMPLATES = Path(__file__).resolve().parent / "templates"
FONTS = Path(__file__).resolve().parent / "fonts"
FONT_FILES = {"font:regular": FONTS / "DejaVuSans.ttf", "font:bold": FONTS / "DejaVuSans-Bold.ttf"}
_BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
# Below this many invoices a batch PDF is drawn in this process; starting workers costs more.
_PARALLEL_FROM = 8

_LONG_RUN = re.compile(r"\S{31,}")


def _breakable(value):
    """xhtml2pdf breaks lines only at spaces: give a run of 31+ characters a space every 30, or it leaves the page.

    Markup (a macro's HTML) is left alone: its values went through here when the macro drew them.
    """
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup) and len(value) > 30:
        return _LONG_RUN.sub(lambda m: " ".join(m.group(0)[i:i + 30] for i in range(0, len(m.group(0)), 30)), value)
    return value


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, finalize=_breakable)


def _money(cents: int) -> str:
    return format_money(from_cents(cents))


def _day(value: date | datetime) -> str:
    return f"{value:%b} {value.day}, {value:%Y}"


def _short_day(value: date) -> str:
    return f"{value:%m/%d/%Y}"


# ---------- rendering (runs in worker processes too: pure data in, bytes out) ----------

@dataclass(frozen=True)
class _Job:
    template: str
    context: dict
    logo: bytes | None
    logo_mime: str


def _link_callback(logo_uri: str | None, refused: list[str]) -> Callable[[str, str | None], str]:
    """Only our own fonts and the profile's logo; anything else becomes a blank image, never a fetch."""

    def resolve(uri: str, _rel: str | None) -> str:
        if uri in FONT_FILES:
            return str(FONT_FILES[uri])
        if uri == "logo:profile" and logo_uri:
            return logo_uri
        refused.append(str(uri)[:200])
        return _BLANK_GIF

    return resolve


def _policy():
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    return ResourceAccessPolicy.server(base_dir=FONTS, allow_remote=False, max_render_seconds=600,
                                       max_document_bytes=64 * 1024 * 1024, max_depth=400)


def _render(job: _Job) -> bytes:
    from xhtml2pdf import pisa

    html = _env.get_template(job.template).render(**job.context)
    logo_uri = None
    if job.logo:
        logo_uri = f"data:{job.logo_mime or 'image/png'};base64,{base64.b64encode(job.logo).decode()}"
    refused: list[str] = []
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", link_callback=_link_callback(logo_uri, refused),
                            resource_policy=_policy())
    if status.err:
        raise InvoiceDeskError(f"The document could not be drawn ({status.err} error(s)); nothing was saved.")
    return out.getvalue()


# ---------- gathering what a document shows ----------

def _profile_context(profile: InvoiceProfile, document_number: str, document: str = "invoice") -> dict:
    return {
        "remit_to_name": profile.remit_to_name,
        "remit_to_lines": [line for line in profile.remit_to_address.splitlines() if line.strip()],
        "footer": _footer(profile.footer, document), "has_logo": bool(profile.logo),
        "document_number": document_number,
    }


_THIS_INVOICE = re.compile(r"\b(this|your)(\s+)(invoice)\b", re.IGNORECASE)


def _footer(footer: str, document: str) -> str:
    """The profile's footer (printed once, at the foot of every page), said of the document it is on.

    The footer is written for invoices: "Questions about this invoice? Call billing at ..." reads "... this credit
    memo? ..." on a credit memo and "... this statement? ..." on a statement, with the same contact details.
    """
    if document == "invoice":
        return footer

    def said_of(match: re.Match[str]) -> str:
        word = match.group(3)
        name = document.upper() if word.isupper() else document.title() if word.istitle() else document
        return match.group(1) + match.group(2) + name

    return _THIS_INVOICE.sub(said_of, footer)


def _party_lines(party: Party) -> list[str]:
    city = " ".join(x for x in (f"{party.city}," if party.city else "", party.state, party.postal_code) if x)
    return [x for x in (party.name, party.contact_name, party.address_line1, party.address_line2, city) if x.strip()]


def _bill_to(session: Session, item: BatchItem) -> list[str]:
    if item.bill_to is not None:
        lines = [line.strip() for line in item.bill_to.split("\n")]
        return [line for line in lines if line and line not in (",", ", ")]
    return _party_lines(session.get_one(Party, item.party_id))


def _encounter_rows(session: Session, invoice_id: int) -> list[dict]:
    enc, il, pt, cl = Encounter.__table__, InvoiceLine.__table__, Patient.__table__, ChargeLine.__table__
    rows = session.execute(
        sa.select(enc.c.id, enc.c.number, enc.c.date_of_service, pt.c.name, il.c.amount_cents, cl.c.procedure_code,
                  cl.c.description, cl.c.units, cl.c.amount_cents.label("line_cents"))
        .join(il, il.c.encounter_id == enc.c.id).join(pt, pt.c.id == enc.c.patient_id)
        .join(cl, cl.c.encounter_id == enc.c.id)
        .where(il.c.invoice_id == invoice_id).order_by(enc.c.date_of_service, enc.c.number, cl.c.line_no)).all()
    encounters: dict[int, dict] = {}
    for r in rows:
        e = encounters.setdefault(r.id, {"number": r.number, "dos": r.date_of_service, "patient": r.name,
                                         "cents": r.amount_cents, "charges": []})
        e["charges"].append({"code": r.procedure_code, "description": r.description, "units": r.units,
                             "cents": r.line_cents})
    return list(encounters.values())


def _groups(encounters: list[dict], total_by: str, show_codes: bool) -> list[dict]:
    groups: dict[str, dict] = {}
    if total_by == "procedure":
        for e in encounters:
            for c in e["charges"]:
                title = f"{c['code']} {c['description']}".strip() if show_codes else (c["description"] or c["code"])
                g = groups.setdefault(title, {"title": title, "rows": [], "cents": 0})
                g["rows"].append({"dos": _short_day(e["dos"]), "patient": e["patient"], "encounter": e["number"],
                                  "units": c["units"], "amount": _money(c["cents"])})
                g["cents"] += c["cents"]
    else:
        for e in sorted(encounters, key=lambda e: (e["patient"].lower(), e["dos"], e["number"])):
            g = groups.setdefault(e["patient"], {"title": e["patient"], "rows": [], "cents": 0})
            services = "; ".join(
                (f"{c['code']} {c['description']}".strip() if show_codes else c["description"] or "Service")
                + (f" x{c['units']}" if c["units"] != 1 else "") for c in e["charges"])
            g["rows"].append({"dos": _short_day(e["dos"]), "encounter": e["number"], "services": services,
                              "amount": _money(e["cents"])})
            g["cents"] += e["cents"]
    return [{"title": g["title"], "rows": g["rows"], "subtotal": _money(g["cents"]),
             "keep": _short(g["rows"][0]), "keep_last": _short(g["rows"][-1])}
            for g in sorted(groups.values(), key=lambda g: g["title"].lower())]


# A group's heading is drawn in one piece with its first line, so a page never ends on a patient's (or procedure's)
# name with their lines on the next (issue 11), and its subtotal in one piece with its last line. A piece goes to the
# next page whole, which is only sound while it is well under a page tall: a line that might wrap to more lines than
# this (an encounter with dozens of charges) is drawn as a row of its own, cut where the page ends. Counted at 40
# characters a line, fewer than fit.
_KEEP_LINES = 30


def _short(row: dict) -> bool:
    return all(len(textwrap.wrap(str(value), 40)) <= _KEEP_LINES for value in row.values())


def _allocations_as_of(session: Session, invoice_id: int,
                       moment: datetime) -> tuple[list[dict], list[dict], list[dict]]:
    """Payments, credits and write-offs on an invoice as they stood at a moment (later voids and un-applies do not
    rewrite the past)."""
    a, r, cm, wo = Allocation.__table__, Receipt.__table__, CreditMemo.__table__, WriteOff.__table__
    live_then = sa.and_(a.c.invoice_id == invoice_id, a.c.created_at <= moment,
                        sa.or_(a.c.reversed_at.is_(None), a.c.reversed_at > moment))
    payments = [{"date": _day(x.received_date), "method": x.method, "reference": x.reference,
                 "amount": _money(x.amount_cents), "receipt": receipt_number(x.number)}
                for x in session.execute(
                    sa.select(r.c.received_date, r.c.method, r.c.reference, r.c.number, a.c.amount_cents)
                    .join(r, r.c.id == a.c.receipt_id).where(live_then).order_by(r.c.received_date, a.c.id))]
    credits = [{"number": credit_memo_number(x.number), "amount": _money(x.amount_cents)}
               for x in session.execute(sa.select(cm.c.number, a.c.amount_cents).join(cm, cm.c.id == a.c.credit_memo_id)
                                        .where(live_then).order_by(a.c.id))]
    writeoffs = [{"number": write_off_number(x.number), "date": _day(x.written_on), "reason": x.reason,
                  "amount": _money(x.amount_cents)}
                 for x in session.execute(sa.select(wo.c.number, wo.c.written_on, wo.c.reason, a.c.amount_cents)
                                          .join(wo, wo.c.id == a.c.write_off_id).where(live_then).order_by(a.c.id))]
    return payments, credits, writeoffs


def _item_job(session: Session, item_id: int) -> tuple[_Job, BatchItem]:
    item = get_record(session, BatchItem, item_id)
    if item is None:
        raise NotFoundError(f"There is no batch item with id {item_id!r}.")
    batch = session.get_one(Batch, item.batch_id)
    invoice = session.get_one(Invoice, item.invoice_id)
    profile = session.get_one(InvoiceProfile, batch.profile_id)
    payments, credits, writeoffs = _allocations_as_of(session, invoice.id, batch.created_at)
    encounters = _encounter_rows(session, invoice.id)
    # One due date (domain rule 14): the invoice's, counted from its first sending; a resend after it says so.
    due_on = invoice.due_on or item.sent_on + timedelta(days=profile.terms_days)
    balance = item.balance_cents
    context = {
        **_profile_context(profile, item.invoice_number),
        "invoice_number": item.invoice_number, "base_number": invoice.number, "reprint": item.times_batched > 1,
        "first_sent_on": _day(invoice.first_sent_on), "sent_on": _day(item.sent_on), "due_on": _day(due_on),
        "terms_label": "due on receipt" if profile.terms_days == 0 else f"net {profile.terms_days} days",
        "past_due": balance > 0 and item.sent_on > due_on,
        "bill_to": _bill_to(session, item), "total_by": profile.total_by, "show_codes": profile.show_procedure_codes,
        "groups": _groups(encounters, profile.total_by, profile.show_procedure_codes),
        "encounter_count": len(encounters), "billed": _money(item.billed_cents),
        "payments": payments, "payments_total": _money(item.payments_cents), "credits": credits,
        "writeoffs": writeoffs,
        "balance_due": _money(balance),
    }
    return _Job("invoice.html", context, profile.logo, profile.logo_mime), item


# ---------- the archive of fingerprints ----------

@dataclass(frozen=True)
class DocumentCheck:
    kind: str
    ref_id: int
    archived_sha256: str | None
    current_sha256: str
    archived_on: datetime | None

    @property
    def unchanged(self) -> bool:
        return self.archived_sha256 == self.current_sha256


def _archive(session: Session, kind: str, pdfs: dict[int, bytes]) -> None:
    """Keep each document's fingerprint the first time it is made (a later one never replaces it).

    In a read session (core.read_session) the fingerprints go in a short write transaction of their own, so a
    document is gathered and drawn without holding the database's write lock (SQLite) or any row lock.
    """
    if not pdfs:
        return
    rows = [{"kind": kind, "ref_id": ref_id, "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf),
             "created_at": clock.now()} for ref_id, pdf in pdfs.items()]
    if session.connection().get_execution_options().get(READ_ONLY):
        with transaction(session.get_bind().engine) as writer:
            _insert_fingerprints(writer, rows)
    else:
        _insert_fingerprints(session, rows)


def _insert_fingerprints(session: Session, rows: list[dict]) -> None:
    t = Document.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(t).on_conflict_do_nothing(index_elements=["kind", "ref_id"]), rows)


@guarded
def verify_document(session: Session, *, kind: str, ref_id: int) -> DocumentCheck:
    """Render a document again and compare it with the fingerprint archived when it was first made."""
    renderers = {"batch_item": lambda: render_batch_item_pdf(session, batch_item_id=ref_id, archive=False),
                 "credit_memo": lambda: render_credit_memo_pdf(session, credit_memo_id=ref_id, archive=False)}
    if kind not in renderers:
        raise InvoiceDeskError(f"Unknown document kind '{kind}'.")
    current = hashlib.sha256(renderers[kind]()).hexdigest()
    t = Document.__table__
    row = session.execute(sa.select(t.c.sha256, t.c.created_at).where(t.c.kind == kind, t.c.ref_id == ref_id)).first()
    return DocumentCheck(kind, ref_id, row.sha256 if row else None, current, row.created_at if row else None)


# ---------- the public renderers ----------

@guarded
def render_batch_item_pdf(session: Session, *, batch_item_id: int, archive: bool = True) -> bytes:
    """One invoice as sent in one batch: the first sending or a reprint with its suffix."""
    job, item = _item_job(session, batch_item_id)
    pdf = _render(job)
    if archive:
        _archive(session, "batch_item", {item.id: pdf})
    return pdf


@guarded
def render_batch_pdf(session: Session, *, batch_id: int, progress: Callable[[int, int], None] | None = None,
                     workers: int | None = None) -> bytes:
    """Every invoice of a batch in one PDF, drawn in parallel over the machine's cores."""
    from pypdf import PdfWriter

    batch = get_record(session, Batch, batch_id)
    if batch is None:
        raise NotFoundError(f"There is no batch with id {batch_id!r}.")
    item_ids = session.execute(sa.select(col(BatchItem.id)).where(col(BatchItem.batch_id) == batch.id)
                               .order_by(col(BatchItem.id))).scalars().all()
    # Gathered (reads only) while the workers draw what was gathered before, and put together as the PDFs come back
    # in order (issue 16: gathering and merging were a tenth of a 1,000-invoice batch, each on one core); then the
    # fingerprints archived in one short write.
    writer = PdfWriter()

    def add(pdf: bytes) -> None:
        writer.append(io.BytesIO(pdf))

    jobs = (_item_job(session, item_id)[0] for item_id in item_ids)
    total = len(item_ids)
    workers = min(workers or os.cpu_count() or 1, total)
    if total < _PARALLEL_FROM or workers <= 1:
        pdfs = []
        for job in jobs:
            pdfs.append(_render(job))
            add(pdfs[-1])
            if progress:
                progress(len(pdfs), total)
    else:
        pdfs = render_in_workers(jobs, workers, progress, total=total, in_order=add)
    _archive(session, "batch_item", dict(zip(item_ids, pdfs, strict=True)))
    writer.add_metadata({"/Title": f"Batch {batch.number}", "/Producer": "Invoice Desk"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@guarded
def render_credit_memo_pdf(session: Session, *, credit_memo_id: int, archive: bool = True) -> bytes:
    memo = get_record(session, CreditMemo, credit_memo_id)
    if memo is None:
        raise NotFoundError(f"There is no credit memo with id {credit_memo_id!r}.")
    item = session.get_one(BatchItem, memo.batch_item_id)
    batch = session.get_one(Batch, item.batch_id)
    profile = session.get_one(InvoiceProfile, batch.profile_id)
    invoice = session.get_one(Invoice, memo.invoice_id)
    a, line, enc, pt = Allocation.__table__, CreditMemoLine.__table__, Encounter.__table__, Patient.__table__
    applied = session.execute(sa.select(sa.func.coalesce(sa.func.sum(a.c.amount_cents), 0)).where(
        a.c.credit_memo_id == memo.id, a.c.invoice_id == memo.invoice_id, a.c.created_at <= memo.created_at)
    ).scalar_one()
    # An adjustment (an amount on a visit that stays billed) says so beside the encounter.
    rows = [{"dos": _short_day(r.date_of_service), "patient": r.name,
             "encounter": r.number if r.whole else f"{r.number} (adjustment)", "amount": _money(r.amount_cents)}
            for r in session.execute(sa.select(enc.c.date_of_service, enc.c.number, pt.c.name, line.c.amount_cents,
                                               line.c.whole)
                                     .join(enc, enc.c.id == line.c.encounter_id).join(pt, pt.c.id == enc.c.patient_id)
                                     .where(line.c.credit_memo_id == memo.id)
                                     .order_by(enc.c.date_of_service, enc.c.number))]
    number = credit_memo_number(memo.number)
    labels = {CreditAction.SELF_PAY: "The patient pays these visits; they are no longer billed to you.",
              CreditAction.REASSIGN: "These visits are billed to another party instead.",
              CreditAction.VOID: "These visits were billed in error.",
              CreditAction.ADJUST: "An amount is taken off these visits; they stay billed to you."}
    unapplied = memo.amount_cents - applied
    context = {
        **_profile_context(profile, number, "credit memo"), "number": number, "issued_on": _day(memo.issued_on or clock.day_of(memo.created_at, session)),
        "invoice_number": invoice.number, "bill_to": _bill_to(session, item), "reason": memo.reason,
        "action_label": labels[memo.action], "rows": rows, "amount": _money(memo.amount_cents),
        "applied": _money(applied), "unapplied": _money(unapplied),
        "unapplied_note": "The credit on account will be applied to your open or next invoices." if unapplied else "",
    }
    pdf = _render(_Job("credit_memo.html", context, profile.logo, profile.logo_mime))
    if archive:
        _archive(session, "credit_memo", {memo.id: pdf})
    return pdf


@guarded
def render_statement_pdf(session: Session, *, party_id: int, as_of: date | None = None) -> bytes:
    """A party's account statement as of a day: open invoices, receipts, unapplied money, aging."""
    from core.settings import current_profile

    party = get_record(session, Party, party_id)
    if party is None:
        raise NotFoundError(f"There is no bill-to party with id {party_id!r}.")
    as_of = as_of or clock.today(session)
    profile = current_profile(session) or InvoiceProfile(version=0, remit_to_name="Our Practice")
    account = party_account(session, party_id=party.id, as_of=as_of)
    # Everything as it stood at the end of the statement's day (core.as_of); what came later is listed apart.
    balances = as_of_sql.invoice_balances(as_of, party_id=party.id).subquery()
    invoices = [{"number": x.number, "sent": _day(x.first_sent_on), "due": _day(x.due_on),
                 "billed": _money(x.billed), "payments": _money(x.payments), "credits": _money(x.credits),
                 "writeoffs": _money(x.writeoffs), "balance": _money(x.balance)}
                for x in session.execute(sa.select(balances).where(balances.c.balance > 0)
                                         .order_by(balances.c.first_sent_on, balances.c.id))]
    since = as_of - timedelta(days=365)
    held = as_of_sql.receipts(as_of, party_id=party.id).subquery()
    receipts = [{"number": receipt_number(x.number), "date": _day(x.received_date), "method": x.method,
                 "reference": x.reference, "amount": _money(x.amount), "unapplied": _money(x.unapplied)}
                for x in session.execute(sa.select(held).where(held.c.received_date >= since)
                                         .order_by(held.c.received_date.desc(), held.c.id.desc()))]
    r = Receipt.__table__
    after = [{"number": receipt_number(x.number), "date": _day(x.received_date), "method": x.method,
              "reference": x.reference, "amount": _money(x.amount_cents)}
             for x in session.execute(sa.select(r).where(r.c.party_id == party.id, r.c.voided == sa.false(),
                                                         r.c.received_date > as_of)
                                      .order_by(r.c.received_date, r.c.id))]
    context = {
        **_profile_context(profile, f"Statement {party.account_code}", "statement"), "account_code": party.account_code,
        "as_of": _day(as_of), "bill_to": _party_lines(party), "open_balance": format_money(account.open_balance),
        "unapplied": format_money(account.unapplied), "aging_label": account.aging_label,
        "aging": [{"name": k, "amount": format_money(v)} for k, v in account.aging.items()],
        "invoices": invoices, "receipts": receipts, "received_after": after,
    }
    return _render(_Job("statement.html", context, profile.logo, profile.logo_mime))


@guarded
def render_party_ledger_pdf(session: Session, *, party_id: int, date_from: date | None = None,
                            date_to: date | None = None) -> bytes:
    """A party's ledger (core.party_ledger) as a PDF: every document by day with the running balance."""
    from core.party_ledger import party_ledger
    from core.settings import current_profile

    party = get_record(session, Party, party_id)
    if party is None:
        raise NotFoundError(f"There is no bill-to party with id {party_id!r}.")
    rows = party_ledger(session, party_id=party.id, date_from=date_from, date_to=date_to)
    profile = current_profile(session) or InvoiceProfile(version=0, remit_to_name="Our Practice")
    period = (f"{_day(date_from) if date_from else 'From the first entry'} to "
              f"{_day(date_to) if date_to else 'today'}")
    context = {
        **_profile_context(profile, f"Ledger {party.account_code}", "statement"), "account_code": party.account_code,
        "period": period, "bill_to": _party_lines(party),
        "closing": format_money(rows[-1].running_balance if rows else from_cents(0)),
        "rows": [{"on": _short_day(r.on), "kind": r.kind, "number": r.number, "description": r.description,
                  "amount": format_money(r.amount) if r.amount else "", "balance": format_money(r.running_balance)}
                 for r in rows],
    }
    return _render(_Job("ledger.html", context, profile.logo, profile.logo_mime))


@guarded
def render_items_pdf(session: Session, *, batch_item_ids: list[int]) -> bytes:
    """Several batch items (rows chosen in a history) in one PDF, in the order given."""
    from pypdf import PdfWriter

    if not batch_item_ids:
        raise InvoiceDeskError("Choose at least one invoice to print.")
    writer = PdfWriter()
    for item_id in batch_item_ids:
        writer.append(io.BytesIO(render_batch_item_pdf(session, batch_item_id=item_id)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
