"""Roles are enforced in core (domain rule 18): a viewer's write is refused even when a page, notebook or script
calls core directly; a manager may not change Settings; every write's audit record names the signed-in e-mail.

Each public writer is called three ways, on SQLite and PostgreSQL: as a viewer (refused, the whole database
unchanged by its fingerprint), as a manager (allowed for billing, refused for Settings) and as the role it
needs (done, and the audit record it wrote carries the e-mail). A test below fails when a new public core
function takes an actor but has no row in WRITERS, so no writer can skip the check.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

import core
from core import (
    ADMIN,
    MANAGER,
    VIEWER,
    Actor,
    InvoiceDeskError,
    SmtpSettings,
    allocate_credit,
    allocate_receipt,
    audit_log,
    create_credit_memo,
    create_group,
    create_on_demand_batch,
    create_party,
    import_csv,
    list_allocations,
    post_receipt,
    rebatch,
    rebatch_invoices,
    refund,
    save_invoice_profile,
    send_batch_email,
    send_test_email,
    set_invoice_billing,
    set_time_zone,
    unapply_allocation,
    update_group,
    update_party,
    void_receipt,
    write_off,
)
from core.models import AuditRecord
from tests.conftest import public_parameters
from tests.support.browser import free_port
from tests.support.fingerprint import assert_refused_unchanged
from tests.support.practice import Practice, build_practice

VIEWER_REFUSAL = "may look at everything but change nothing"
ADMIN_REFUSAL = "Only an administrator may change Settings"

PARTIES_CSV = ("account_code,name,kind,group,billable,contact_name,email,address_line1,address_line2,city,state,"
               "postal_code\nROLE01,Role Test Works,employer,,yes,,,1 Main,,Salem,OR,97301\n")


def _unapply(s, p: Practice, actor):
    (allocation,) = list_allocations(s, receipt_id=p.receipt.id)
    return unapply_allocation(s, allocation_id=allocation.allocation_id, reason="Wrong invoice", actor=actor)


_NOWHERE = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", from_address="b@riverbend.example")


def _test_email(s, actor):
    """The test e-mail to a closed port: refused after the role check, with the attempt audited."""
    try:
        send_test_email(s, to="me@riverbend.example", actor=actor, settings=_NOWHERE)
    except InvoiceDeskError as refused:
        if "was not sent" not in str(refused):
            raise


# name -> (the role it needs, the call). Each call succeeds on a fresh practice for a role that may make it.
WRITERS = {
    "post_receipt": (MANAGER, lambda s, p, a: post_receipt(
        s, party_id=p.party.id, amount="60.00", received_date=date(2026, 5, 1), method="check",
        reference="CHK 300", allocations={p.a.invoice_id: "60.00"}, actor=a)),
    "allocate_receipt": (MANAGER, lambda s, p, a: allocate_receipt(
        s, receipt_id=p.receipt.id, allocations={p.a.invoice_id: "10.00"}, actor=a)),
    "void_receipt": (MANAGER, lambda s, p, a: void_receipt(s, receipt_id=p.receipt.id, reason="NSF", actor=a)),
    "create_on_demand_batch": (MANAGER, lambda s, p, a: create_on_demand_batch(s, party_id=p.party.id, actor=a)),
    "rebatch": (MANAGER, lambda s, p, a: rebatch(s, source_batch_id=p.a.batch_id, actor=a)),
    "rebatch_invoices": (MANAGER, lambda s, p, a: rebatch_invoices(s, invoice_ids=[p.a.invoice_id], actor=a)),
    "create_credit_memo": (MANAGER, lambda s, p, a: create_credit_memo(
        s, batch_item_id=p.a.id, encounter_ids=[p.a_encounter], action="void", reason="Billed in error", actor=a)),
    "allocate_credit": (MANAGER, lambda s, p, a: allocate_credit(
        s, credit_memo_id=p.memo.id, allocations={p.a.invoice_id: "5.00"}, actor=a)),
    "write_off": (MANAGER, lambda s, p, a: write_off(s, invoice_id=p.e.invoice_id, amount="15.00",
                                                     reason="small balance", actor=a)),
    "refund": (MANAGER, lambda s, p, a: refund(s, receipt_id=p.receipt.id, amount="10.00", method="check",
                                               reference="CHK 9", actor=a)),
    "unapply_allocation": (MANAGER, _unapply),
    "set_invoice_billing": (ADMIN, lambda s, p, a: set_invoice_billing(s, enabled=False, actor=a)),
    "set_time_zone": (ADMIN, lambda s, p, a: set_time_zone(s, zone="America/Chicago", actor=a)),
    "save_invoice_profile": (ADMIN, lambda s, p, a: save_invoice_profile(s, terms_days=45, actor=a)),
    "create_party": (ADMIN, lambda s, p, a: create_party(s, account_code="ROLE02", name="Role Two", actor=a)),
    "update_party": (ADMIN, lambda s, p, a: update_party(s, party_id=p.party.id, name="Renamed Works", actor=a)),
    "create_group": (ADMIN, lambda s, p, a: create_group(s, name="Role Group", actor=a)),
    "update_group": (ADMIN, lambda s, p, a: update_group(s, group_id=p.group.id, name="Renamed Group", actor=a)),
    "import_csv": (ADMIN, lambda s, p, a: import_csv(s, kind="parties", data=PARTIES_CSV, actor=a)),
    # To a closed port: the items fail, the send and its audit record happen.
    "send_batch_email": (MANAGER, lambda s, p, a: send_batch_email(s, batch_id=p.a.batch_id, actor=a,
                                                                   settings=_NOWHERE)),
    "send_test_email": (ADMIN, lambda s, p, a: _test_email(s, a)),
}

ANN = Actor(email="Ann.Viewer@Riverbend.example", role=VIEWER, name="Ann Viewer")
MIA = Actor(email="mia.manager@riverbend.example", role=MANAGER, name="Mia Manager")
ADA = Actor(email="ada.admin@riverbend.example", role=ADMIN, name="Ada Admin")


READERS_BY_ACTOR = {"audit_log"}  # takes `actor` as a filter, not as who is acting


def test_every_public_writer_has_a_role_check_here():
    functions = {name: getattr(core, name) for name in core.__all__ if name not in READERS_BY_ACTOR}
    takes_actor = {name for name, f in functions.items() if callable(f) and not isinstance(f, type)
                   and any(p.name == "actor" for p in public_parameters(f))}
    assert takes_actor == set(WRITERS), "every public function that takes an actor needs a row in WRITERS"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(request, tmp_path_factory):
    """One practice per database for the refusals: each refusal is checked to leave it exactly as it was."""
    from sqlmodel import Session

    from tests.conftest import module_engine

    engine = module_engine(request, tmp_path_factory, "roles")
    with Session(engine, expire_on_commit=False) as s:
        practice = build_practice(s)
        s.commit()
        yield s, practice
        s.rollback()
    engine.dispose()


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_viewer_is_refused_and_nothing_changes(shared, name):
    s, p = shared
    refusal = assert_refused_unchanged(s, lambda: WRITERS[name][1](s, p, ANN), match=VIEWER_REFUSAL)
    assert "Ann Viewer" in str(refusal) and "viewer" in str(refusal)


@pytest.mark.parametrize("name", sorted(n for n, (need, _) in WRITERS.items() if need == ADMIN))
def test_a_manager_may_not_change_settings(shared, name):
    s, p = shared
    refusal = assert_refused_unchanged(s, lambda: WRITERS[name][1](s, p, MIA), match=ADMIN_REFUSAL)
    assert "Mia Manager is a manager" in str(refusal)


def _newest_audit(session) -> AuditRecord:
    return session.execute(sa.select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)).scalar_one()


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_the_role_it_needs_may_and_the_audit_names_their_email(session, name):
    p = build_practice(session)
    session.commit()
    need, call = WRITERS[name]
    who = MIA if need == MANAGER else ADA
    before = _newest_audit(session).id
    call(session, p, who)
    session.commit()
    written = session.execute(sa.select(AuditRecord.actor).where(AuditRecord.id > before)).scalars().all()
    assert written and set(written) == {who.email}, written
    assert audit_log(session, actor=who.email, limit=1)[0].actor == who.email


def test_an_admin_may_do_billing_too(session):
    p = build_practice(session)
    batch = create_on_demand_batch(session, party_id=p.party.id, actor=ADA)
    session.commit()
    assert (batch.invoice_count, batch.created_by) == (1, "ada.admin@riverbend.example")
    assert _newest_audit(session).actor == "ada.admin@riverbend.example"


def test_local_mode_a_plain_name_has_full_rights(session):
    """Local mode passes the operating-system user as a string: every writer, Settings included, accepts it."""
    p = build_practice(session)
    set_time_zone(session, zone="America/Denver", actor="  pat  ")
    create_on_demand_batch(session, party_id=p.party.id, actor="pat")
    session.commit()
    assert {r.actor for r in audit_log(session, limit=2)} == {"pat"}


def test_a_viewer_cannot_replay_a_managers_request_key(session):
    """The same request key returns the first result; a viewer with that key is still refused, not answered."""
    p = build_practice(session)
    first = create_on_demand_batch(session, party_id=p.party.id, actor=MIA, request_key="k-roles-1")
    session.commit()
    with pytest.raises(InvoiceDeskError, match=VIEWER_REFUSAL):
        create_on_demand_batch(session, party_id=p.party.id, actor=ANN, request_key="k-roles-1")
    assert create_on_demand_batch(session, party_id=p.party.id, actor=MIA, request_key="k-roles-1").id == first.id


def test_an_actor_is_normalised_and_checked():
    ann = Actor(email="  Ann.Viewer@Riverbend.EXAMPLE ", role=" Viewer ", name=" Ann \n Viewer ")
    assert (ann.email, ann.role, ann.name, ann.label) == (
        "ann.viewer@riverbend.example", VIEWER, "Ann Viewer", "Ann Viewer")
    assert Actor(email="x@y.example", role=ADMIN).label == "x@y.example"
    assert ADA.may(ADMIN) and ADA.may(MANAGER) and MIA.may(MANAGER) and not MIA.may(ADMIN)
    assert ANN.may(VIEWER) and not ANN.may(MANAGER)
    with pytest.raises(InvoiceDeskError, match="Unknown role 'owner'"):
        Actor(email="x@y.example", role="owner")
    with pytest.raises(InvoiceDeskError, match="needs an e-mail address"):
        Actor(email=" \x00 ", role=MANAGER)
    with pytest.raises(InvoiceDeskError, match="needs an e-mail address"):
        Actor(email="a" * 121, role=MANAGER)


@pytest.mark.parametrize("actor", ["", "   ", None, 42, "\x00"])
def test_no_actor_is_refused(shared, actor):
    s, p = shared
    assert_refused_unchanged(s, lambda: create_on_demand_batch(s, party_id=p.party.id, actor=actor), match="actor")
