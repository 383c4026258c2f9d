"""Invoices by e-mail (issue 15): templates, SMTP settings, sending a batch's items, the delivery log.

Each batch item goes to its party's billing addresses (To and Cc) with its PDF attached: the archived bytes
(`document_content`), so the document mailed is the one archived, byte for byte. One SMTP connection serves a
whole send; a delivery row per item records queued, then sent (with the server's answer and the Message-ID) or
failed (with the reason); an item whose party has no address is "no address". A request key names one send: the
same key again sends nothing new. Delivery rows are written in short transactions of their own as the server
answers, so a send that stops half way leaves a true log, and no lock is held while the server is talked to.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from core import audit, clock, requests
from core.db import get_record, guarded
from core.errors import InvoiceDeskError, NotFoundError
from core.inputs import email_addresses, is_email
from core.models import (
    Batch,
    BatchItem,
    Delivery,
    DeliveryStatus,
    Document,
    DocumentContent,
    Invoice,
    InvoiceProfile,
    Party,
)
from core.money import format_money, from_cents
from core.roles import ADMIN, Actor
from core.validation import check_template

ENV_PREFIX = "INVOICE_DESK_SMTP_"
_NOT_SET_UP = ("E-mail is not set up: give an SMTP server in .streamlit/secrets.toml [smtp] or INVOICE_DESK_SMTP_HOST "
               "and INVOICE_DESK_SMTP_FROM (README, Sending invoices by e-mail).")
SECURITY = ("starttls", "tls", "none")


def render_template(text: str, values: Mapping[str, str]) -> str:
    """The template with each placeholder replaced by its value, literally (values are never read as templates)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes out. Read from `.streamlit/secrets.toml` [smtp] or INVOICE_DESK_SMTP_* variables; never stored."""

    host: str
    from_address: str
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    reply_to: str = ""
    rate_per_minute: int = 0  # 0: as fast as the server takes them
    timeout: float = 30.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> SmtpSettings:
        """Settings from [smtp] keys (host, port, security, user, password, from, reply_to, rate_per_minute)."""
        def text(key: str) -> str:
            value = values.get(key, "")
            return str(value).strip() if value is not None else ""

        host, sender, security = text("host"), text("from"), (text("security") or "starttls").lower()
        if not host:
            raise InvoiceDeskError("E-mail is not set up: give the SMTP server's host ([smtp] host in "
                                   ".streamlit/secrets.toml, or INVOICE_DESK_SMTP_HOST).")
        if not is_email(sender) or any(c in sender for c in "\r\n,;"):
            raise InvoiceDeskError(f"The SMTP from address {sender[:80]!r} is not one e-mail address.")
        reply_to = text("reply_to")
        if reply_to and (not is_email(reply_to) or any(c in reply_to for c in "\r\n,;")):
            raise InvoiceDeskError(f"The SMTP reply-to address {reply_to[:80]!r} is not one e-mail address.")
        if security not in SECURITY:
            raise InvoiceDeskError(f"SMTP security is {security[:20]!r}; use starttls, tls or none.")
        try:
            port = int(text("port") or (465 if security == "tls" else 587))
            rate = int(text("rate_per_minute") or 0)
        except ValueError as exc:
            raise InvoiceDeskError("The SMTP port and rate per minute are whole numbers.") from exc
        if not 0 < port < 65536 or rate < 0:
            raise InvoiceDeskError("The SMTP port is 1 to 65535 and the rate per minute 0 (no limit) or more.")
        return cls(host=host, from_address=sender, port=port, security=security, user=text("user"),
                   password=text("password"), reply_to=reply_to, rate_per_minute=rate)


def smtp_settings(secrets: Mapping[str, object] | None = None,
                  environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
    """The SMTP settings: the [smtp] section given, else INVOICE_DESK_SMTP_* variables; None when neither has a host."""
    if secrets is not None and not isinstance(secrets, Mapping):
        raise InvoiceDeskError("The [smtp] settings must be a table of keys (host, port, from, ...).")
    if secrets and secrets.get("host"):
        return SmtpSettings.from_mapping(secrets)
    env = os.environ if environ is None else environ
    if not isinstance(env, Mapping):
        raise InvoiceDeskError("The environment must be a mapping of names to values.")
    values = {key[len(ENV_PREFIX):].lower(): value for key, value in env.items()
              if isinstance(key, str) and key.startswith(ENV_PREFIX)}
    return SmtpSettings.from_mapping(values) if values.get("host") else None


def _settings(given: object) -> SmtpSettings:
    """The settings given, else those of secrets or the environment; InvoiceDeskError when there are none."""
    if given is not None and not isinstance(given, SmtpSettings):
        raise InvoiceDeskError("settings must be SmtpSettings (core.smtp_settings() reads them), or None.")
    found = given or smtp_settings()
    if found is None:
        raise InvoiceDeskError(_NOT_SET_UP)
    return found


# ---------- sending ----------

@dataclass(frozen=True)
class DeliveryRow:
    """One line of the delivery log."""

    id: int
    batch_item_id: int
    invoice_number: str
    status: str
    to_addresses: str
    cc_addresses: str
    subject: str
    message_id: str
    answer: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None


@dataclass
class DeliveryReport:
    """What one send did: items sent, failed (with why), without an address, and already in this request."""

    request_key: str
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    no_address: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)

    @property
    def summary(self) -> str:
        parts = [f"{len(self.sent)} sent"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.no_address:
            parts.append(f"{len(self.no_address)} without an e-mail address")
        if self.already:
            parts.append(f"{len(self.already)} already handled by this request")
        return ", ".join(parts) + "."


@dataclass(frozen=True)
class _Outgoing:
    delivery_id: int
    item_id: int
    invoice_number: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    pdf: bytes


def archived_pdf(session: Session, batch_item_id: int) -> bytes:
    """The batch item's PDF as archived: the stored bytes; else drawn now, checked against the fingerprint archived
    when it was first printed, and stored (with its fingerprint) in the session's transaction."""
    from core.documents import _insert_fingerprints, render_batch_item_pdf

    t, f = DocumentContent.__table__, Document.__table__
    stored = session.execute(sa.select(t.c.content).where(t.c.kind == "batch_item",
                                                          t.c.ref_id == batch_item_id)).scalar()
    if stored is not None:
        return stored
    pdf = render_batch_item_pdf(session, batch_item_id=batch_item_id, archive=False)
    digest = hashlib.sha256(pdf).hexdigest()
    first = session.execute(sa.select(f.c.sha256).where(f.c.kind == "batch_item", f.c.ref_id == batch_item_id)).scalar()
    if first is not None and first != digest:
        raise InvoiceDeskError("This invoice no longer matches the document first printed, so it is not mailed.")
    now = clock.now()
    _insert_fingerprints(session, [{"kind": "batch_item", "ref_id": batch_item_id, "sha256": digest,
                                    "size": len(pdf), "created_at": now}])
    session.execute(_insert(session, t).on_conflict_do_nothing(index_elements=["kind", "ref_id"]).values(
        kind="batch_item", ref_id=batch_item_id, sha256=digest, content=pdf, created_at=now))
    return pdf


def _insert(session: Session, table: sa.Table):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def _values(item: BatchItem, party: Party, invoice: Invoice, batch: Batch, profile: InvoiceProfile | None) -> dict:
    return {"invoice_number": item.invoice_number, "balance_due": format_money(from_cents(item.balance_cents)),
            "billed": format_money(from_cents(item.billed_cents)),
            "due_date": invoice.due_on.isoformat() if isinstance(invoice.due_on, date) else "",
            "sent_on": item.sent_on.isoformat(), "party_name": party.name, "account_code": party.account_code,
            "contact_name": party.contact_name or party.name,
            "practice_name": (profile.remit_to_name if profile else "") or "Invoice Desk",
            "batch_number": str(batch.number)}


def _subject(text: str) -> str:
    if any(c in text for c in "\r\n"):  # a header holds one line; nothing typed may add a header
        raise InvoiceDeskError("The e-mail subject would hold a line break; check the template and the party's name.")
    return text[:300]


def _message(settings: SmtpSettings, out: _Outgoing) -> tuple[EmailMessage, str]:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = settings.from_address
    msg["To"] = ", ".join(out.to)
    if out.cc:
        msg["Cc"] = ", ".join(out.cc)
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = out.subject
    msg["Date"] = formatdate(localtime=True)
    message_id = make_msgid(idstring=f"item{out.item_id}", domain=settings.from_address.rpartition("@")[2])
    msg["Message-ID"] = message_id
    msg.set_content(out.body)
    if out.pdf:
        msg.add_attachment(out.pdf, maintype="application", subtype="pdf", filename=f"{out.invoice_number}.pdf")
    return msg, message_id


class _Connection:
    """One SMTP connection for a whole send, opened again if the server drops it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        s = self.settings
        context = ssl.create_default_context()
        smtp = (smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context) if s.security == "tls"
                else smtplib.SMTP(s.host, s.port, timeout=s.timeout))
        if s.security == "starttls":
            smtp.starttls(context=context)
        if s.user:
            smtp.login(s.user, s.password)
        smtp.ehlo_or_helo_if_needed()
        self.smtp = smtp
        return smtp

    def drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.drop()


def _answer(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(text.split())}"[:1000]


def _send_one(conn: _Connection, settings: SmtpSettings, out: _Outgoing) -> tuple[bool, str, str]:
    """(sent, the server's answer or the reason, Message-ID)."""
    message_id = ""
    try:
        msg, message_id = _message(settings, out)
        smtp = conn.open()
        code, text = smtp.mail(settings.from_address)
        if code != 250:
            smtp.rset()
            return False, "The server refused the sender: " + _answer(code, text), message_id
        refused = {}
        for rcpt in (*out.to, *out.cc):
            code, text = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = _answer(code, text)
        if len(refused) == len(out.to) + len(out.cc):
            smtp.rset()
            return False, "Every recipient was refused: " + "; ".join(f"{r}: {a}" for r, a in refused.items()), \
                message_id
        code, text = smtp.data(msg.as_bytes())
        if code != 250:
            return False, "The server refused the message: " + _answer(code, text), message_id
        answer = _answer(code, text)
        if refused:
            answer += " (refused: " + "; ".join(f"{r}: {a}" for r, a in refused.items()) + ")"
        return True, answer, message_id
    except smtplib.SMTPServerDisconnected as exc:
        conn.drop()
        return False, f"The server closed the connection: {exc or 'no reason given'}", message_id
    except (smtplib.SMTPException, OSError) as exc:  # a timeout is an OSError
        conn.drop()
        return False, f"Could not talk to {settings.host}:{settings.port}: {exc}"[:1000], message_id
    except (ValueError, UnicodeError) as exc:  # an address or header the server's protocol cannot carry
        conn.drop()
        return False, f"This e-mail cannot be sent as addressed: {exc}"[:1000], message_id


@guarded
def send_batch_email(session: Session, *, batch_id: int, batch_item_ids: list[int] | None = None,
                     actor: str | Actor, request_key: str | None = None, settings: SmtpSettings | None = None,
                     progress: Callable[[int, int], None] | None = None) -> DeliveryReport:
    """E-mail a batch's items (all, or the ids given) to their parties' billing addresses, each with its PDF.

    The same request key twice sends nothing new; a retry of the failed ones is a new request with their ids.
    Unlike the other writers it commits as it goes (mail cannot be taken back, so neither can its log): first
    the claims, then each item's outcome as the server answers, with no transaction open while it talks.
    """
    actor = audit.require_actor(actor)
    if batch_item_ids is not None and (not isinstance(batch_item_ids, list | tuple)
                                       or not all(isinstance(i, int) and not isinstance(i, bool)
                                                  for i in batch_item_ids)):
        raise InvoiceDeskError("Batch item ids must be a list of ids.")
    request_key = requests.check_key(request_key)
    if progress is not None and not callable(progress):
        raise InvoiceDeskError("progress must be a function taking (done, total).")
    settings = _settings(settings)
    key = (request_key or f"send-{uuid.uuid4().hex}").strip()
    batch = get_record(session, Batch, batch_id)
    if batch is None:
        raise NotFoundError(f"There is no batch with id {batch_id!r}.")
    q = sa.select(BatchItem, Party, Invoice).join(Party, col(Party.id) == col(BatchItem.party_id)).join(
        Invoice, col(Invoice.id) == col(BatchItem.invoice_id)).where(col(BatchItem.batch_id) == batch.id)
    if batch_item_ids is not None:
        q = q.where(col(BatchItem.id).in_(list(batch_item_ids)))
    rows = session.execute(q.order_by(col(BatchItem.id))).all()
    missing = set(batch_item_ids or ()) - {item.id for item, _, _ in rows}
    if missing:
        raise InvoiceDeskError(f"Batch item {min(missing)} is not in stb {batch.number}.")
    if not rows:
        raise InvoiceDeskError(f"Choose at least one invoice of stb {batch.number} to send.")
    profile = session.get(InvoiceProfile, batch.profile_id)
    subject_template = check_template(profile.email_subject if profile else "", "e-mail subject")
    body_template = check_template(profile.email_body if profile else "", "e-mail body")

    report = DeliveryReport(request_key=key)
    outgoing: list[_Outgoing] = []
    now = clock.now()
    for item, party, invoice in rows:
        to, cc = email_addresses(party.email), email_addresses(party.email_cc)
        values = _values(item, party, invoice, batch, profile)
        subject = _subject(render_template(subject_template, values))
        status, pdf, why = (DeliveryStatus.QUEUED if to else DeliveryStatus.NO_ADDRESS), b"", ""
        if to:
            try:
                pdf = archived_pdf(session, item.id)
            except InvoiceDeskError as exc:  # its document changed since it was printed: logged, not mailed
                status, why = DeliveryStatus.FAILED, str(exc)
        # Claimed for this request: the same key again (a second click, another server) finds it taken.
        delivery_id = session.execute(_insert(session, Delivery.__table__).on_conflict_do_nothing(
            index_elements=["request_key", "batch_item_id"]).values(
            batch_item_id=item.id, request_key=key, status=str(status), to_addresses=", ".join(to),
            cc_addresses=", ".join(cc), subject=subject, message_id="", answer=why,
            attachment_sha256=hashlib.sha256(pdf).hexdigest() if pdf else "", created_by=actor,
            created_at=now, finished_at=None if status == DeliveryStatus.QUEUED else now,
        ).returning(Delivery.__table__.c.id)).scalar()
        if delivery_id is None:
            report.already.append(item.id)
            continue
        if status == DeliveryStatus.NO_ADDRESS:
            report.no_address.append(item.id)
            continue
        if status == DeliveryStatus.FAILED:
            report.failed[item.id] = why
            continue
        outgoing.append(_Outgoing(delivery_id, item.id, item.invoice_number, to, cc, subject,
                                  render_template(body_template, values), pdf))

    # The claims, archived documents and "no address" rows are kept before any mail goes: mail cannot be taken
    # back, so neither can its log. From here no transaction is open while the server is talked to.
    session.commit()
    conn = _Connection(settings)
    gap = 60 / settings.rate_per_minute if settings.rate_per_minute else 0.0
    try:
        for done, out in enumerate(outgoing, start=1):
            started = time.monotonic()
            sent, answer, message_id = _send_one(conn, settings, out)
            session.execute(sa.update(Delivery.__table__).where(Delivery.__table__.c.id == out.delivery_id).values(
                status=str(DeliveryStatus.SENT if sent else DeliveryStatus.FAILED), answer=answer,
                message_id=message_id, finished_at=clock.now()))
            session.commit()
            if sent:
                report.sent.append(out.item_id)
            else:
                report.failed[out.item_id] = answer
            if progress:
                progress(done, len(outgoing))
            if gap and done < len(outgoing):
                time.sleep(max(0.0, gap - (time.monotonic() - started)))
    finally:
        conn.close()
    numbers = {item.id: item.invoice_number for item, _, _ in rows}  # the audit names invoices as a manager does
    audit.record(session, actor=actor, action="batch.email", entity="batch", ids=[batch.id], detail={
        "number": batch.number, "request": key, "sent": [numbers[i] for i in report.sent],
        "failed": [numbers[i] for i in sorted(report.failed)], "no_address": [numbers[i] for i in report.no_address],
        "to": sorted({a for out in outgoing for a in (*out.to, *out.cc)})})
    session.commit()
    return report


@guarded
def deliveries(session: Session, *, batch_id: int | None = None, batch_item_id: int | None = None,
               limit: int = 500) -> list[DeliveryRow]:
    """The delivery log, newest first, for a batch or one batch item."""
    d, b = Delivery.__table__, BatchItem.__table__
    q = sa.select(d, b.c.invoice_number).join(b, b.c.id == d.c.batch_item_id).order_by(d.c.id.desc()).limit(limit)
    if batch_id is not None:
        q = q.where(b.c.batch_id == batch_id)
    if batch_item_id is not None:
        q = q.where(d.c.batch_item_id == batch_item_id)
    return [DeliveryRow(id=r.id, batch_item_id=r.batch_item_id, invoice_number=r.invoice_number, status=r.status,
                        to_addresses=r.to_addresses, cc_addresses=r.cc_addresses, subject=r.subject,
                        message_id=r.message_id, answer=r.answer, created_by=r.created_by, created_at=r.created_at,
                        finished_at=r.finished_at) for r in session.execute(q)]


def last_delivery(batch_item_id: Any) -> sa.ScalarSelect:
    """The newest delivery status of a batch item, as a correlated subquery for lists (history, batch items)."""
    d = Delivery.__table__
    return sa.select(d.c.status).where(d.c.batch_item_id == batch_item_id).order_by(d.c.id.desc()).limit(1) \
        .scalar_subquery()


@guarded
def send_test_email(session: Session, *, to: str, actor: str | Actor, settings: SmtpSettings | None = None) -> str:
    """Settings' "send a test e-mail" (an administrator's): a short message to one address; returns what happened.

    The server's refusal or silence is an InvoiceDeskError saying so. The attempt is audited, sent or not.
    """
    actor = audit.require_actor(actor, ADMIN)
    to = to.strip() if isinstance(to, str) else ""
    if not is_email(to) or any(c in to for c in "\r\n,;"):
        raise InvoiceDeskError(f"{to[:80]!r} is not one e-mail address.")
    settings = _settings(settings)
    out = _Outgoing(0, 0, "test", [to], [], "Invoice Desk: test e-mail",
                    "This is a test from Invoice Desk's Settings. Invoices will be sent this way.", b"")
    sent, answer, _ = _send_one(_Connection(settings), settings, out)
    audit.record(session, actor=actor, action="settings.smtp_test", entity="setting", detail={
        "to": to, "server": f"{settings.host}:{settings.port}", "sent": sent, "answer": answer})
    session.commit()
    if not sent:
        raise InvoiceDeskError(f"The test e-mail was not sent: {answer}")
    return f"Sent to {to} through {settings.host}:{settings.port} ({answer})."
