"""Sending a batch by e-mail from the pages: the SMTP settings from secrets or the environment, and a send that runs
in a background thread while the page shows its progress (issue 15).

A send is keyed by its request key: the page starts it once, the same key again (a second click, a rerun) finds
the job already running or done, and core sends nothing twice for one key anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import streamlit as st

from app.state import engine
from core import (
    Actor,
    DeliveryReport,
    InvoiceDeskError,
    SmtpSettings,
    send_batch_email,
    smtp_settings,
    transaction,
)


def settings() -> SmtpSettings | None:
    """[smtp] in .streamlit/secrets.toml, else INVOICE_DESK_SMTP_* variables; None when e-mail is not set up.

    A section that is there but wrong raises InvoiceDeskError, which the page shows as it is.
    """
    try:
        section = st.secrets.get("smtp") if "smtp" in st.secrets else None
    except FileNotFoundError:  # no secrets file: local mode
        section = None
    return smtp_settings(dict(section) if isinstance(section, Mapping) else None)


NOT_SET_UP = ("E-mail is not set up, so invoices are downloaded and mailed by hand. Give the SMTP server in "
              "`.streamlit/secrets.toml` under `[smtp]`, or in INVOICE_DESK_SMTP_HOST and INVOICE_DESK_SMTP_FROM "
              "(README, Sending invoices by e-mail); the password is never stored in the database. "
              "`./desk mailserver` runs a local one for the demo.")


def settings_or_say() -> SmtpSettings | None:
    """The SMTP settings, or None after saying on the page why e-mail cannot go out."""
    from app.ui import md

    try:
        smtp = settings()
    except InvoiceDeskError as exc:
        st.error(md(exc), icon=":material/error:")
        return None
    if smtp is None:
        st.info(NOT_SET_UP, icon=":material/mail:")
    return smtp


@dataclass
class Job:
    """One send in the background: how far it got, and its report or the refusal."""

    batch_number: int
    total: int
    done: int = 0
    report: DeliveryReport | None = None
    error: str = ""
    finished: threading.Event = field(default_factory=threading.Event)


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


def start(*, request_key: str, batch_id: int, batch_number: int, item_ids: list[int] | None, total: int,
          actor: str | Actor, smtp: SmtpSettings) -> Job:
    """Start the send for this request key, or return the one already started with it."""
    with _LOCK:
        job = _JOBS.get(request_key)
        if job is not None:
            return job
        job = _JOBS[request_key] = Job(batch_number=batch_number, total=total)

    def run() -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            with transaction(engine()) as s:
                job.report = send_batch_email(s, batch_id=batch_id, batch_item_ids=item_ids, actor=actor,
                                              request_key=request_key, settings=smtp, progress=progress)
        except InvoiceDeskError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 (a thread's failure is shown on the page, never lost)
            job.error = f"The send stopped: {exc}"
        finally:
            job.finished.set()

    threading.Thread(target=run, name=f"invoice-desk-send-{request_key}", daemon=True).start()
    return job


def job(request_key: str) -> Job | None:
    return _JOBS.get(request_key)
