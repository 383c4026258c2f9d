"""PDFs never hold a write lock, and their workers never re-run the app script (issue 9)."""

from __future__ import annotations

import io
import sys
import time
from datetime import date

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from core import read_session, render_batch_pdf, transaction
from core.models import Document, Encounter, Party, Patient, Receipt
from tests.factories import ACTOR, billing_on, make_group
from tests.support.invariants import ledger_problems


def _group_batch(engine, invoices: int):
    """A group of `invoices` employers, one visit each, sent in one group batch."""
    from core import create_on_demand_batch

    with transaction(engine) as s:
        billing_on(s)
        group = make_group(s)
        p, pt, e = Party.__table__, Patient.__table__, Encounter.__table__
        s.execute(sa.insert(p), [{"account_code": f"LCK{n:05d}", "name": f"Employer {n:05d}", "kind": "employer",
                                  "group_id": group.id, "billable": True, "active": True, "contact_name": "",
                                  "email": "", "address_line1": "1 Main St", "address_line2": "",
                                  "city": "Springfield", "state": "IL", "postal_code": "62701"}
                                 for n in range(invoices)])
        s.execute(sa.insert(pt), [{"account": f"LP{n:05d}", "name": f"Patient {n:05d}"} for n in range(invoices)])
        parties = dict(s.execute(sa.select(p.c.account_code, p.c.id).where(p.c.group_id == group.id)).all())
        patients = dict(s.execute(sa.select(pt.c.account, pt.c.id).where(pt.c.account.like("LP%"))).all())
        s.execute(sa.insert(e), [{"number": f"LE{n:05d}", "patient_id": patients[f"LP{n:05d}"],
                                  "party_id": parties[f"LCK{n:05d}"], "date_of_service": date(2026, 3, 2),
                                  "post_date": date(2026, 3, 2), "total_cents": 12500, "voided": False,
                                  "self_pay": False} for n in range(invoices)])
        from core.models import ChargeLine

        ids = dict(s.execute(sa.select(e.c.number, e.c.id).where(e.c.number.like("LE%"))).all())
        s.execute(sa.insert(ChargeLine.__table__), [
            {"encounter_id": i, "line_no": 1, "procedure_code": "99213", "description": "Office visit", "units": 1,
             "amount_cents": 12500} for i in ids.values()])
        batch = create_on_demand_batch(s, group_id=group.id, actor=ACTOR)
        return batch, sorted(parties.values())


def test_batch_pdf_workers_never_run_the_app_script(engine, tmp_path, monkeypatch):
    batch, _ = _group_batch(engine, 9)
    marker = tmp_path / "app-script-ran"
    script = tmp_path / "streamlit_app.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    # Inside `streamlit run`, __main__ is the app script: a multiprocessing spawn child would run it again.
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(script), raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    with read_session(engine) as s:
        pdf = render_batch_pdf(s, batch_id=batch.id, workers=2)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 9
    assert not marker.exists()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Document)).scalar_one() == 9


@pytest.mark.slow
def test_receipts_post_within_a_second_while_a_thousand_invoice_batch_pdf_renders(engine, tmp_path):
    """The batch PDF draws in this process; another manager posts receipts from another process meanwhile."""
    import multiprocessing

    from tests.support.stress import post_receipts_until

    batch, parties = _group_batch(engine, 1000)
    stop = tmp_path / "drawn"
    url = engine.url.render_as_string(hide_password=False)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        poster = pool.apply_async(post_receipts_until, (url, parties, str(stop)))
        time.sleep(3)  # the other manager is at work before the drawing starts
        with read_session(engine) as s:
            pdf = render_batch_pdf(s, batch_id=batch.id)
        stop.touch()
        waits = poster.get(timeout=120)
    print(f"\n{engine.dialect.name}: {len(waits)} receipts posted while 1,000 invoices were drawn; "
          f"longest wait {max(waits):.3f} s")
    assert len(waits) >= 5
    assert max(waits) < 1.0
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1000
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Document)).scalar_one() == 1000
        assert conn.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one() == len(waits)
    assert ledger_problems(engine) == []
