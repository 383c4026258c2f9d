"""Invoices by e-mail through a real SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL (issue 15).

The server (tests/support/smtp.py) keeps every message it accepts; a recipient with "refuse" in the address is
answered 550, and a message to one with "drop" makes the server close the connection. Each test reads what the server received and
the delivery log, and compares the attachment with the archived fingerprint.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
import sqlalchemy as sa

from core import (
    Actor,
    InvoiceDeskError,
    batch_items,
    clock,
    create_on_demand_batch,
    invoice_history,
    save_invoice_profile,
    update_party,
)
from core.mail import (
    SmtpSettings,
    check_template,
    deliveries,
    send_batch_email,
    send_test_email,
    smtp_settings,
)
from core.models import AuditRecord, BatchItem, Delivery, Document, DocumentContent
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party
from tests.support.browser import free_port
from tests.support.smtp import smtp_server


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


def _batch(session, emails: list[tuple[str, str]]):
    """A group batch with one invoice per (to, cc) pair; returns the batch and its items in order."""
    billing_on(session)
    group = make_group(session)
    for i, (to, cc) in enumerate(emails):
        party = make_party(session, name=f"Works {i}", group=group)
        update_party(session, party_id=party.id, email=to, email_cc=cc, contact_name=f"Pat {i}", actor=ACTOR)
        make_encounter(session, party, dos=date(2026, 3, 10 + i), amounts=("100.00", f"{i + 1}.50"))
    save_invoice_profile(session, remit_to_name="Riverbend Occupational Health", actor=ACTOR)
    batch = create_on_demand_batch(session, group_id=group.id, actor=ACTOR)
    session.commit()
    items = session.execute(sa.select(BatchItem).where(BatchItem.batch_id == batch.id).order_by(BatchItem.id)
                            ).scalars().all()
    return batch, items


def _statuses(session, batch_id):
    """Each item's newest delivery status (the log is newest first)."""
    return {r.batch_item_id: r.status for r in reversed(deliveries(session, batch_id=batch_id))}


def test_a_batch_is_sent_one_message_per_item_with_the_archived_pdf(session, smtp):
    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", ""), ("ap@two.example, boss@two.example", "cc@two.example"),
                                    ("ap@three.example", "")])
    report = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=settings, request_key="send-1")
    assert report.sent == [i.id for i in items] and not report.failed and report.summary == "3 sent."
    assert len(recorder.messages) == 3 and recorder.greetings == 1, "one connection for the whole send"
    for item, (_, message) in zip(items, recorder.messages, strict=True):
        assert message["Subject"] == f"Invoice {item.invoice_number} from Riverbend Occupational Health"
        assert message["From"] == "billing@riverbend.example" and message["Reply-To"] == "ar@riverbend.example"
        body = message.get_body(("plain",)).get_content()
        assert f"invoice {item.invoice_number}" in body and f"${item.balance_cents / 100:,.2f} due by" in body
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == f"{item.invoice_number}.pdf"
        pdf = attachment.get_content()
        archived = session.execute(sa.select(Document.sha256).where(Document.kind == "batch_item",
                                                                    Document.ref_id == item.id)).scalar_one()
        assert hashlib.sha256(pdf).hexdigest() == archived
        stored = session.execute(sa.select(DocumentContent.content).where(DocumentContent.ref_id == item.id)
                                 ).scalar_one()
        assert stored == pdf
    assert recorder.messages[1][0] == ["ap@two.example", "boss@two.example", "cc@two.example"]
    assert recorder.messages[1][1]["Cc"] == "cc@two.example"
    log = {r.batch_item_id: r for r in deliveries(session, batch_id=batch.id)}
    assert {r.status for r in log.values()} == {"sent"}
    assert all(r.answer.startswith("250 2.0.0 Ok: queued as Q") and r.message_id.startswith("<") for r in log.values())
    assert [m["Message-ID"] for _, m in recorder.messages] == [log[i.id].message_id for i in items]
    audit = session.execute(sa.select(AuditRecord).where(AuditRecord.action == "batch.email")).scalar_one()
    assert audit.actor == ACTOR and "cc@two.example" in audit.detail
    assert all(i.invoice_number in audit.detail for i in items), "the audit names the invoices sent"


def test_a_refused_recipient_and_a_dropped_connection_fail_alone_and_a_retry_sends_only_them(session, smtp):
    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", ""), ("refuse@two.example", ""), ("drop@three.example", ""),
                                    ("ap@four.example", "")])
    report = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=settings, request_key="send-1")
    assert report.sent == [items[0].id, items[3].id]
    assert "550 5.1.1 No such mailbox here" in report.failed[items[1].id]
    assert "closed the connection" in report.failed[items[2].id]
    assert _statuses(session, batch.id) == {items[0].id: "sent", items[1].id: "failed", items[2].id: "failed",
                                            items[3].id: "sent"}
    assert [r for r, _ in recorder.messages] == [["ap@one.example"], ["ap@four.example"]]
    assert recorder.greetings == 2, "a dropped connection is opened again for the next item"
    # The Batch Items table and Invoice History show each sending's last delivery.
    shown = {i.batch_item_id: i.delivery for i in batch_items(session, batch_id=batch.id)}
    assert shown == _statuses(session, batch.id)
    history = {r.batch_item_id: r.delivery for r in invoice_history(session, status="all")}
    assert {i.id: history[i.id] for i in items} == shown
    # The addresses are corrected; a retry of the failed ones is a new request with their ids.
    update_party(session, party_id=items[1].party_id, email="ap@two.example", actor=ACTOR)
    update_party(session, party_id=items[2].party_id, email="ap@three.example", actor=ACTOR)
    session.commit()
    retry = send_batch_email(session, batch_id=batch.id, batch_item_ids=sorted(report.failed), actor=ACTOR,
                             settings=settings, request_key="retry-1")
    assert retry.sent == [items[1].id, items[2].id] and not retry.failed
    assert [r for r, _ in recorder.messages][2:] == [["ap@two.example"], ["ap@three.example"]]
    assert _statuses(session, batch.id) == {i.id: "sent" for i in items}, "the last status of each is sent"
    assert {i.delivery for i in batch_items(session, batch_id=batch.id)} == {"sent"}


def test_the_same_request_twice_sends_nothing_new_and_no_address_is_reported(session, smtp):
    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", ""), ("", "")])
    first = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=settings, request_key="k-1")
    assert (first.sent, first.no_address) == ([items[0].id], [items[1].id])
    assert "1 without an e-mail address" in first.summary
    again = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=settings, request_key="k-1")
    assert again.sent == [] and again.already == [items[0].id, items[1].id]
    assert len(recorder.messages) == 1
    assert session.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one() == 2
    assert _statuses(session, batch.id)[items[1].id] == "no address"


def test_hostile_names_and_templates_arrive_literally(session, smtp):
    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", "")])
    party_id = items[0].party_id
    update_party(session, party_id=party_id, name="Acme {invoice_number} <script>alert(1)</script> =cmd|' /C calc'!A0",
                 actor=ACTOR)
    session.commit()
    # A template's placeholders are checked when saved; a party's name is data, never a template.
    with pytest.raises(InvoiceDeskError, match="not a placeholder"):
        save_invoice_profile(session, email_subject="{party_name.__class__}", actor=ACTOR)
    with pytest.raises(InvoiceDeskError, match="not a placeholder"):
        check_template("Hi {internal_note}", "e-mail body")
    with pytest.raises(InvoiceDeskError, match="line break"):
        update_party(session, party_id=party_id, name="Acme\r\nBcc: victim@evil.example", actor=ACTOR)
    session.rollback()
    with pytest.raises(InvoiceDeskError, match="line break"):
        update_party(session, party_id=party_id, email="ap@one.example\nBcc: victim@evil.example", actor=ACTOR)
    session.rollback()
    with pytest.raises(InvoiceDeskError, match="'Bcc:' is not an e-mail address"):
        update_party(session, party_id=party_id, email="ap@one.example Bcc: victim@evil.example", actor=ACTOR)
    session.rollback()
    report = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=settings)
    assert report.sent == [items[0].id]
    (rcpts, message), = recorder.messages
    assert rcpts == ["ap@one.example"] and message["Bcc"] is None
    body = message.get_body(("plain",)).get_content()
    assert "Acme {invoice_number} <script>alert(1)</script> =cmd|' /C calc'!A0:" in body


def test_a_viewer_may_not_send_and_bad_requests_change_nothing(session, smtp):
    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", "")])
    with pytest.raises(InvoiceDeskError, match="change nothing"):
        send_batch_email(session, batch_id=batch.id, actor=Actor(email="v@x.example", role="viewer"),
                         settings=settings)
    with pytest.raises(InvoiceDeskError, match="not in stb"):
        send_batch_email(session, batch_id=batch.id, batch_item_ids=[987654], actor=ACTOR, settings=settings)
    with pytest.raises(InvoiceDeskError, match="no batch with id"):
        send_batch_email(session, batch_id=987654, actor=ACTOR, settings=settings)
    with pytest.raises(InvoiceDeskError, match="E-mail is not set up"):
        send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=None)
    assert recorder.messages == []
    assert session.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one() == 0


def test_an_unreachable_server_fails_each_item_with_the_reason(session):
    batch, items = _batch(session, [("ap@one.example", ""), ("ap@two.example", "")])
    closed = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", from_address="b@riverbend.example")
    report = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=closed)
    assert sorted(report.failed) == [i.id for i in items]
    assert all("Could not talk to 127.0.0.1" in why for why in report.failed.values())


def test_settings_come_from_secrets_or_the_environment_and_are_checked(smtp):
    recorder, settings = smtp
    assert smtp_settings({}, environ={}) is None
    from_env = smtp_settings(None, environ={"INVOICE_DESK_SMTP_HOST": "mail.example", "INVOICE_DESK_SMTP_FROM":
                                            "b@riverbend.example", "INVOICE_DESK_SMTP_SECURITY": "tls"})
    assert (from_env.host, from_env.port, from_env.security) == ("mail.example", 465, "tls")
    from_secrets = smtp_settings({"host": "smtp.example", "from": "b@riverbend.example", "port": 2525,
                                  "password": "hunter2"}, environ={})
    assert from_secrets.port == 2525 and "hunter2" not in repr(from_secrets)
    for bad, says in [({"host": "h", "from": "not an address"}, "not one e-mail address"),
                      ({"host": "h", "from": "a@b.example\r\nBcc: x@y.example"}, "not one e-mail address"),
                      ({"host": "h", "from": "a@b.example", "security": "ssl3"}, "starttls, tls or none"),
                      ({"host": "h", "from": "a@b.example", "port": "smtp"}, "whole numbers")]:
        with pytest.raises(InvoiceDeskError, match=says):
            SmtpSettings.from_mapping(bad)


def test_the_test_email_reaches_the_server_and_is_audited(session, smtp):
    recorder, settings = smtp
    said = send_test_email(session, settings=settings, to="me@riverbend.example", actor=ACTOR)
    assert said.startswith("Sent to me@riverbend.example") and "250 2.0.0 Ok" in said
    assert recorder.messages[-1][0] == ["me@riverbend.example"]
    assert recorder.messages[-1][1]["Subject"] == "Invoice Desk: test e-mail"
    with pytest.raises(InvoiceDeskError, match="not one e-mail address"):
        send_test_email(session, settings=settings, to="me@x.example\nBcc: y@z.example", actor=ACTOR)
    with pytest.raises(InvoiceDeskError, match="The test e-mail was not sent: Every recipient was refused"):
        send_test_email(session, settings=settings, to="refuse@riverbend.example", actor=ACTOR)
    with pytest.raises(InvoiceDeskError, match="Only an administrator"):
        send_test_email(session, settings=settings, to="me@riverbend.example",
                        actor=Actor(email="m@riverbend.example", role="manager"))
    tests = session.execute(sa.select(AuditRecord.detail).where(AuditRecord.action == "settings.smtp_test")
                            ).scalars().all()
    assert len(tests) == 2 and len(recorder.messages) == 1


def test_the_rate_limit_spaces_the_messages(session, smtp, monkeypatch):
    from core import mail

    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", ""), ("ap@two.example", ""), ("ap@three.example", "")])
    waits: list[float] = []
    monkeypatch.setattr(mail.time, "sleep", waits.append)
    slow = SmtpSettings(**{**settings.__dict__, "rate_per_minute": 20})
    report = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=slow)
    assert len(report.sent) == 3 and len(recorder.messages) == 3
    assert len(waits) == 2 and all(2.0 < w <= 3.0 for w in waits), waits  # 3 s apart, less the time each took


def test_parties_import_several_addresses_and_cc(session):
    from core import import_csv

    csv = ("account_code,name,kind,group,billable,contact_name,email,address_line1,address_line2,city,state,"
           "postal_code,email_cc\nM1,Mail One,employer,,yes,,ap@one.example; boss@one.example,1 Main,,Salem,OR,97301,"
           "cc@one.example\nM2,Mail Two,employer,,yes,,not-an-address,1 Main,,Salem,OR,97301,\n")
    report = import_csv(session, kind="parties", data=csv, actor=ACTOR)
    assert not report.ok and [(e.row, e.column) for e in report.errors] == [(3, "email")]
    report = import_csv(session, kind="parties", data=csv.replace("not-an-address", ""), actor=ACTOR)
    assert report.ok and report.created == 2
    from core.models import Party

    one = session.execute(sa.select(Party).where(Party.account_code == "M1")).scalar_one()
    assert (one.email, one.email_cc) == ("ap@one.example, boss@one.example", "cc@one.example")
    # A file without the email_cc column (written before it existed) keeps each party's Cc.
    old = csv.replace(",email_cc\n", "\n").replace(",cc@one.example\n", "\n").replace("97301,\n", "97301\n")
    old = old.replace("not-an-address", "")
    assert import_csv(session, kind="parties", data=old, actor=ACTOR).ok
    session.refresh(one)
    assert one.email_cc == "cc@one.example"


def test_a_changed_document_and_an_address_smtp_cannot_carry_fail_alone(session, smtp):
    recorder, settings = smtp
    batch, items = _batch(session, [("ap@one.example", ""), ("ap@two.example", ""), ("josé@exämple.example", "")])
    # The first item's archived fingerprint says another document was printed than the one drawn today.
    session.add(Document(kind="batch_item", ref_id=items[0].id, sha256="0" * 64, size=1, created_at=clock.now()))
    session.commit()
    report = send_batch_email(session, batch_id=batch.id, actor=ACTOR, settings=settings)
    assert report.sent == [items[1].id]
    assert "no longer matches the document first printed" in report.failed[items[0].id]
    assert "cannot be sent as addressed" in report.failed[items[2].id]
    assert [r for r, _ in recorder.messages] == [["ap@two.example"]]
    assert _statuses(session, batch.id) == {items[0].id: "failed", items[1].id: "sent", items[2].id: "failed"}
