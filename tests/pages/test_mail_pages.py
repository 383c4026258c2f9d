"""Batch History's E-mail tab and Settings' test e-mail through AppTest, against a real SMTP server on loopback
(issue 15), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import sqlalchemy as sa

from core.models import Batch, BatchItem, Delivery
from tests.pages.conftest import app, button, db, plain, plain_text
from tests.support.smtp import smtp_server


def _smtp_env(monkeypatch, settings) -> None:
    for name, value in {"HOST": settings.host, "PORT": str(settings.port), "SECURITY": "none",
                        "FROM": settings.from_address}.items():
        monkeypatch.setenv(f"INVOICE_DESK_SMTP_{name}", value)


def _small_batch(url: str) -> tuple[int, int]:
    """A batch of two to five invoices: its number and how many."""
    with db(url) as s:
        count = sa.func.count(BatchItem.id)
        return s.execute(sa.select(Batch.number, count).join(BatchItem, BatchItem.batch_id == Batch.id)
                         .group_by(Batch.number).having(count.between(2, 5)).order_by(Batch.number.desc())
                         .limit(1)).one()


def test_a_batch_is_sent_in_the_background_and_the_tables_show_it(demo_any, monkeypatch):
    number, invoices = _small_batch(demo_any)
    with smtp_server() as (recorder, settings):
        _smtp_env(monkeypatch, settings)
        at = app("pages/batches.py", batch=str(number))
        assert "E-mail" in [t.label for t in at.tabs]
        button(at, f"Send {invoices} by e-mail").click().run()
        deadline = time.monotonic() + 60
        while not at.success and time.monotonic() < deadline:
            time.sleep(0.5)
            at.run()
        assert not at.exception and plain(at.success)[-1] == f"{invoices} sent.", plain(at.success)
        assert len(recorder.messages) == invoices
    (items,) = [d.value for d in at.dataframe if "Times batched" in d.value.columns]
    assert list(items["E-mail"]) == ["sent"] * invoices, "the items table shows each invoice's last e-mail"
    log = [d for d in at.dataframe if "Server's answer or reason" in d.value.columns]
    assert len(log) == 1 and list(log[0].value["Status"]) == ["sent"] * invoices
    with db(demo_any) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one() == invoices


def test_without_smtp_the_tab_says_how_to_set_it_up(demo_db, monkeypatch):
    for name in ("HOST", "PORT", "SECURITY", "FROM"):
        monkeypatch.delenv(f"INVOICE_DESK_SMTP_{name}", raising=False)
    number, _ = _small_batch(demo_db)
    at = app("pages/batches.py", batch=str(number))
    assert any("E-mail is not set up" in i for i in plain(at.info))
    assert not [b for b in at.button if b.label.startswith("Send ")]


def test_settings_sends_a_test_email(demo_db, monkeypatch):
    with smtp_server() as (recorder, settings):
        _smtp_env(monkeypatch, settings)
        at = app("pages/settings.py")
        assert any(f"through 127.0.0.1:{settings.port} (none)" in plain_text(m.value).replace("**", "")
                   for m in at.markdown)
        at.text_input(key="set_smtp_test_to").input("me@riverbend.example")
        button(at, "Send a test e-mail").click().run()
        assert not at.exception and any("Sent to me@riverbend.example" in t for t in plain(at.success))
        assert [r for r, _ in recorder.messages] == [["me@riverbend.example"]]
        at.text_input(key="set_smtp_test_to").input("not an address")
        button(at, "Send a test e-mail").click().run()
        assert any("is not one e-mail address" in e for e in plain(at.error))


def _wait_for_report(at, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (at.success or at.warning) and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    return at


def test_one_invoice_is_sent_from_its_tab_once_while_the_page_reruns(demo_any, monkeypatch):
    number, _ = _small_batch(demo_any)
    with smtp_server() as (recorder, settings):
        _smtp_env(monkeypatch, settings)
        at = app("pages/batches.py", batch=str(number))
        invoice = at.selectbox(key="stb_item").value
        recorder.open.clear()  # the server holds the message: the send is still going when the second click lands
        button(at, "E-mail this invoice").click().run()
        assert button(at, "E-mail this invoice").disabled, "the button waits while the send runs"
        assert button(at, f"Send {len(at.multiselect[0].value)} by e-mail").disabled
        at.run().run()  # reruns while the send is held (a browser's second click lands on a disabled button)
        recorder.open.set()
        _wait_for_report(at)
        assert not at.exception and plain(at.success)[-1] == "1 sent.", plain(at.success)
        assert len(recorder.messages) == 1 and invoice in recorder.messages[0][1]["Subject"]
        assert f"{invoice}: sent." in plain_text(" ".join(c.value for c in at.caption))
        # Once that send is done, the button is a new request: sending the invoice again mails it again.
        button(at, "E-mail this invoice").click().run()
        _wait_for_report(at)
        assert len(recorder.messages) == 2
    with db(demo_any) as s:
        sent = s.execute(sa.select(Delivery.status, Delivery.request_key).join(BatchItem)
                         .where(BatchItem.invoice_number == invoice)).all()
    assert [status for status, _ in sent] == ["sent", "sent"] and len({key for _, key in sent}) == 2
