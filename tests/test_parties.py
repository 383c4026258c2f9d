"""Parties and groups as a manager keeps them: exact refusals, what is stored (trimmed), what the look-ups find
and in which order, and where the navigation box leads."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from core import (
    InvoiceDeskError,
    audit_log,
    create_group,
    create_on_demand_batch,
    create_party,
    get_party,
    import_csv,
    navigate,
    search_groups,
    search_parties,
    update_group,
    update_party,
)
from core.imports import OPTIONAL_COLUMNS, PARTY_COLUMNS
from core.models import Party
from core.parties import get_group, party_count
from tests.factories import ACTOR, billing_on, make_encounter
from tests.support.fingerprint import assert_refused_unchanged, commit_anyway, fingerprint

# One table of party rules (core.validation.PartyFields), run through every way a party is typed: create_party,
# update_party, and a parties CSV creating a party and updating one. A value a CSV cell cannot hold (a number,
# None) has no CSV text; a yes/no field is True/False from Python and yes/no in a cell.
SAME = "same"
PARTY_RULES = [
    # field, value from Python, the CSV cell (SAME: the value), the refusal (None: accepted), what is stored
    ("name", "  Acme Works  ", SAME, None, "Acme Works"),
    ("name", "Ünïcode Wörks", SAME, None, "Ünïcode Wörks"),
    ("name", "n" * 200, SAME, None, "n" * 200),
    ("account_code", "C" * 40, SAME, None, "C" * 40),
    ("kind", " Attorney ", SAME, None, "attorney"),
    ("email", " pat@example.com ", SAME, None, "pat@example.com"),
    ("email", "", SAME, None, ""),
    ("city", "c" * 100, SAME, None, "c" * 100),
    ("postal_code", "9" * 20, SAME, None, "9" * 20),
    ("billable", False, "no", None, False),
    ("name", "  ", SAME, "A party needs a name.", None),
    ("account_code", " ", SAME, "A party needs an account code.", None),
    ("kind", "insurer", SAME, "Kind must be employer or attorney, not 'insurer'.", None),
    ("email", "pat@example", SAME, "'pat@example' is not an e-mail address; write each as name@example.com, separated by commas.", None),
    ("email", "pat.example.com", SAME, "'pat.example.com' is not an e-mail address; write each as name@example.com, separated by commas.", None),
    ("email", "a b@c.io", SAME, "'a' is not an e-mail address; write each as name@example.com, separated by commas.", None),  # a space separates two addresses
    ("email", "x@@c.io", SAME, "'x@@c.io' is not an e-mail address; write each as name@example.com, separated by commas.", None),
    ("email", "ap@one.example;  boss@one.example,ap@one.example", SAME, None, "ap@one.example, boss@one.example"),
    ("email_cc", "cc@one.example, nope", SAME, "'nope' is not an e-mail address; write each as name@example.com, separated by commas.", None),
    ("email_cc", " cc@one.example ", SAME, None, "cc@one.example"),
    ("billable", "maybe", SAME, "Billable must be yes or no (True or False), not 'maybe'.", None),
    ("billable", 1, None, "Billable must be yes or no (True or False), not 1.", None),
    ("active", "no", None, "Active must be yes or no (True or False), not 'no'.", None),
    ("name", "n" * 201, SAME, "Name is 201 characters long; shorten it to at most 200.", None),
    ("account_code", "c" * 41, SAME, "Account code is 41 characters long; shorten it to at most 40.", None),
    ("postal_code", "9" * 21, SAME, "Postal code is 21 characters long; shorten it to at most 20.", None),
    ("city", "c" * 101, SAME, "City is 101 characters long; shorten it to at most 100.", None),
    ("name", "Acme\tWorks", SAME, "Name holds a line break, tab or control character; type it on one line.", None),
    ("address_line1", "1 Main St\nSuite 4", SAME,
     "Address line1 holds a line break, tab or control character; type it on one line.", None),
    ("city", None, None, "City must be text, not None.", None),
    ("postal_code", 97301, None, "Postal code must be text, not 97301.", None),
    ("group_id", "x", None, "Group id 'x' is not an id; choose a group from the list, or None.", None),
    ("group_id", 987654, None, "There is no employer group with id 987654.", None),
    ("colour", "red", None, "Unknown party field 'colour'.", None),
]


def _party_file(code: str, field: str, text: str) -> str:
    columns = (*PARTY_COLUMNS, *OPTIONAL_COLUMNS["parties"])
    row = {name: "" for name in columns} | {"account_code": code, "name": "New Co", "kind": "employer",
                                             "billable": "yes", field: text}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([row[name] for name in columns])
    return out.getvalue()


def _by_import(session, code: str, field: str, text: str, message: str | None):
    session.commit()
    before = fingerprint(session.get_bind())
    report = import_csv(session, kind="parties", data=_party_file(code, field, text), actor=ACTOR)
    if message is None:
        assert report.ok, report.errors
        return session.execute(sa.select(Party).where(Party.account_code == (text.strip() if field ==
                                                                            "account_code" else code))).scalar_one()
    assert [str(e) for e in report.errors] == [f"row 2, column {field}: {message}"]
    commit_anyway(session)
    assert fingerprint(session.get_bind()) == before, "a refused import changed the database"
    return None


@pytest.mark.parametrize("field, value, cell, message, stored", PARTY_RULES,
                         ids=[f"{r[0]}={r[1]!r:.20}" for r in PARTY_RULES])
def test_party_rules_are_one_for_create_update_and_import(session, field, value, cell, message, stored):
    keep = create_party(session, account_code="KEEP1", name="Keep Co", actor=ACTOR)
    session.commit()
    update = lambda: update_party(session, party_id=keep.id, actor=ACTOR, **{field: value})  # noqa: E731
    create = lambda: create_party(session, actor=ACTOR, **({"account_code": "NEW1", "name": "New Co"}  # noqa: E731
                                                            | {field: value}))
    cell = value if cell is SAME else cell
    if message is not None:
        assert_refused_unchanged(session, update, match=f"^{re.escape(message)}$")
        assert_refused_unchanged(session, create, match=f"^{re.escape(message)}$")
        if cell is not None:
            _by_import(session, "NEW2", field, cell, message)
            if field != "account_code":  # the file's key: a row with another code is another party
                _by_import(session, "KEEP1", field, cell, message)
        return
    ways = [update, create]
    if cell is not None:
        ways.append(lambda: _by_import(session, "NEW2", field, cell, None))
        if field != "account_code":
            ways.append(lambda: _by_import(session, "KEEP1", field, cell, None))
    for way in ways:  # each on the practice as it was, so two ways may set the same unique code
        party = way()
        session.flush()
        session.refresh(party)
        assert getattr(party, field) == stored
        session.rollback()


def test_limits_are_inclusive_and_text_is_trimmed(session):
    party = create_party(session, account_code=" " + "C" * 40 + " ", name=" " + "N" * 200 + " ", actor=ACTOR,
                         postal_code="9" * 20, email=" pat@example.com ", kind="attorney", billable=False)
    assert (party.account_code, party.name, party.email, party.kind, party.billable, party.active) == \
        ("C" * 40, "N" * 200, "pat@example.com", "attorney", False, True)
    entry = audit_log(session, action="party.create")[0]
    assert (entry.record_ids, entry.detail) == (str(party.id), {"account_code": "C" * 40, "name": "N" * 200})


def test_an_update_records_only_what_changed_and_keeps_the_code_unique(session):
    group = create_group(session, name="  Harbor  ", actor=ACTOR)
    assert group.name == "Harbor"
    a = create_party(session, account_code="A1", name="Alpha", actor=ACTOR)
    create_party(session, account_code="B1", name="Bravo", actor=ACTOR)
    update_party(session, party_id=a.id, name="Alpha", actor=ACTOR)  # nothing changed: nothing recorded
    assert audit_log(session, action="party.update") == []
    update_party(session, party_id=a.id, name="Alpha Works", group_id=group.id, account_code="A1", actor=ACTOR)
    entry = audit_log(session, action="party.update")[0]
    assert entry.detail == {"name": ["Alpha", "Alpha Works"], "group": [None, group.name]}
    assert get_party(session, a.id).group_id == group.id
    assert_refused_unchanged(session, lambda: update_party(session, party_id=a.id, account_code="B1", actor=ACTOR),
                             match="^Account code B1 is already in use.$")
    assert_refused_unchanged(session, lambda: create_party(session, account_code="B1", name="Again", actor=ACTOR),
                             match="^Account code B1 is already in use.$")
    assert party_count(session) == 2


@pytest.mark.parametrize("bad", [0, -1, True, "1", None, 1.0])
def test_a_party_or_group_id_that_is_not_one_is_named_in_the_message(session, bad):
    # A whole number that is no party's id is not found; True, '1' or 1.0 are not ids at all.
    wanted = (f"There is no bill-to party with id {bad!r}." if bad is None or type(bad) is int
              else f"Party id {bad!r} is not a whole number.")
    with pytest.raises(Exception, match=f"^{re.escape(wanted)}$"):
        get_party(session, bad)
    with pytest.raises(Exception, match=rf"^There is no employer group with id {bad!r}.$"):
        get_group(session, bad)


def test_group_names_are_unique_in_any_case_and_limited(session):
    group = create_group(session, name="Harbor", actor=ACTOR)
    other = create_group(session, name="Inland", actor=ACTOR)
    for bad in ("", "   ", "g" * 201):
        assert_refused_unchanged(session, lambda bad=bad: create_group(session, name=bad, actor=ACTOR),
                                 match="^A group needs a name of at most 200 characters.$")
        assert_refused_unchanged(session, lambda bad=bad: update_group(session, group_id=group.id, name=bad,
                                                                       actor=ACTOR),
                                 match="^A group needs a name of at most 200 characters.$")
    assert create_group(session, name="g" * 200, actor=ACTOR).name == "g" * 200
    assert_refused_unchanged(session, lambda: create_group(session, name="HARBOR", actor=ACTOR),
                             match="^There is already a group called HARBOR.$")
    assert_refused_unchanged(session, lambda: update_group(session, group_id=other.id, name=" harbor ", actor=ACTOR),
                             match="^There is already a group called harbor.$")
    assert_refused_unchanged(session, lambda: update_group(session, group_id=group.id, active="no", actor=ACTOR),
                             match=r"^Active must be yes or no \(True or False\), not 'no'.$")
    # Renaming a group to its own name in another case is allowed; the same name changes nothing.
    update_group(session, group_id=group.id, name="HARBOR", actor=ACTOR)
    update_group(session, group_id=group.id, name="HARBOR", active=True, actor=ACTOR)
    entries = audit_log(session, action="group.update")
    assert [e.detail for e in entries] == [{"name": ["Harbor", "HARBOR"]}]
    update_group(session, group_id=group.id, active=False, actor=ACTOR)
    assert audit_log(session, action="group.update")[0].detail == {"active": [True, False]}
    created = audit_log(session, action="group.create")
    assert [e.detail["name"] for e in reversed(created)] == ["Harbor", "Inland", "g" * 200]
    assert created[-1].record_ids == str(group.id)


def test_look_ups_find_by_name_or_code_in_any_case_by_name_and_limit(session):
    for code, name in (("ZED9", "Zulu Freight"), ("AB_1", "Alpha 100% Works"), ("CC01", "charlie site"),
                       ("DD01", "Delta Zed")):
        create_party(session, account_code=code, name=name, actor=ACTOR)
    names = [p.name for p in search_parties(session)]
    assert names == ["Alpha 100% Works", "Delta Zed", "Zulu Freight", "charlie site"] or \
        names == ["Alpha 100% Works", "charlie site", "Delta Zed", "Zulu Freight"]  # byte or case-blind order
    assert [p.name for p in search_parties(session, text="zed")] == ["Delta Zed", "Zulu Freight"]  # code ZED9
    assert [p.name for p in search_parties(session, text=" CHARLIE ")] == ["charlie site"]
    assert [p.name for p in search_parties(session, text="100%")] == ["Alpha 100% Works"]
    assert [p.name for p in search_parties(session, text="b_")] == ["Alpha 100% Works"]
    assert search_parties(session, text="%") == [p for p in search_parties(session) if "%" in p.name]
    assert search_parties(session, text="_") == [p for p in search_parties(session) if "_" in p.account_code]
    assert len(search_parties(session, limit=2)) == 2
    assert len(search_parties(session, text="", limit=20)) == 4
    for n in range(21):
        create_group(session, name=f"Group {n:02d}", actor=ACTOR)
    assert len(search_groups(session)) == 20 and search_groups(session)[0].name == "Group 00"
    assert [g.name for g in search_groups(session, text="group 2")] == ["Group 20"]
    assert [g.name for g in search_groups(session, text="P 0", limit=3)] == ["Group 00", "Group 01", "Group 02"]


def test_navigation_box_destinations(session):
    billing_on(session)
    acme = create_party(session, account_code="ACME", name="Acme Works", actor=ACTOR, address_line1="1 Main St",
                        city="Springfield", state="IL", postal_code="62701")
    create_party(session, account_code="ACMX", name="Acme Two", actor=ACTOR)
    make_encounter(session, acme)
    batch = create_on_demand_batch(session, party_id=acme.id, actor=ACTOR)
    number = batch.items[0].invoice_number
    session.commit()

    assert navigate(session, text="  ").message == \
        "Type stb, stb and a batch number, an invoice number or a party name."
    assert navigate(session, text=" sTb ").kind == "batch_history"
    found = navigate(session, text=f"stb{batch.number}")
    assert (found.kind, found.batch_id, found.batch_number) == ("batch", batch.id, batch.number)
    assert (navigate(session, text="stb 4242").kind, navigate(session, text="stb 4242").message) == \
        ("nothing", "There is no batch 4242.")
    # What is not a batch number is said so, whatever was typed after stb.
    for typed in ("\u00b2", "99999999999999999999", "4x", "\u0663"):
        assert (navigate(session, text=f"stb {typed}").kind, navigate(session, text=f"stb {typed}").message) == \
            ("nothing", f"'{typed}' is not a batch number; type stb and a number such as stb 42.")
    # One party and no invoice: straight to the party.
    only = navigate(session, text="acme works")
    assert (only.kind, only.party_id) == ("party", acme.id)
    # Several parties: a list to choose from.
    several = navigate(session, text="acme")
    assert several.kind == "parties" and {p.id for p in several.parties} == {acme.id, acme.id + 1}
    # An invoice number: the invoice's history rows.
    invoices = navigate(session, text=number)
    assert invoices.kind == "invoices" and [r.invoice_number for r in invoices.invoices] == [number]
    # A single character is too short for an invoice search but still looks up parties.
    assert (navigate(session, text="k").kind, navigate(session, text="k").party_id) == ("party", acme.id)
    nothing = navigate(session, text="qqq")
    assert (nothing.kind, nothing.message) == ("nothing", "Nothing matches 'qqq'.")


def test_navigation_finds_paid_invoices_from_two_characters_and_lists_parties_with_invoices(session):
    from core import post_receipt
    from core.clock import today

    billing_on(session)
    party = create_party(session, account_code="PAID1", name="Paid Up Co", actor=ACTOR, address_line1="1 Main St",
                         city="Springfield", state="IL", postal_code="62701")
    make_encounter(session, party, amounts=("10.00",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    post_receipt(session, party_id=party.id, amount="10.00", received_date=today(session), method="check",
                 allocations={item.invoice_id: "10.00"}, actor=ACTOR)
    number = item.invoice_number  # INV-000001
    assert [r.invoice_number for r in navigate(session, text=number).invoices] == [number]  # paid, still found
    assert [r.invoice_number for r in navigate(session, text=number[-2:]).invoices] == [number]  # two characters
    # A party whose name holds the invoice's digits too: parties and invoices together.
    twin = create_party(session, account_code="T01", name=f"Site {number[-2:]}", actor=ACTOR)
    both = navigate(session, text=number[-2:])
    assert both.kind == "parties" and [p.id for p in both.parties] == [twin.id]
    assert [r.invoice_number for r in both.invoices] == [number]
    assert navigate(session, text=None).message == \
        "Type stb, stb and a batch number, an invoice number or a party name."
    for n in range(25):
        create_party(session, account_code=f"MANY{n:02d}", name=f"Many Sites {n:02d}", actor=ACTOR)
    assert len(navigate(session, text="many sites").parties) == 20


def test_look_ups_order_by_name_then_code_and_every_write_names_its_record_kind(session):
    z = create_party(session, account_code="A-2", name="Same Name", actor=ACTOR)
    a = create_party(session, account_code="A-1", name="Same Name", actor=ACTOR)
    b = create_party(session, account_code="0-FIRST", name="Zed Last", actor=ACTOR)
    assert [p.id for p in search_parties(session)] == [a.id, z.id, b.id]
    assert [p.id for p in search_parties(session, text="a-")] == [a.id, z.id]
    g2, g1 = create_group(session, name="Beta", actor=ACTOR), create_group(session, name="Alpha", actor=ACTOR)
    assert [g.id for g in search_groups(session)] == [g1.id, g2.id]
    update_party(session, party_id=a.id, name="Same Name Two", actor=ACTOR)
    update_group(session, group_id=g1.id, name="A" * 200, actor=ACTOR)  # 200 characters is allowed
    entities = {e.action: e.entity for e in audit_log(session)}
    assert entities == {"party.create": "party", "party.update": "party", "group.create": "party_group",
                        "group.update": "party_group"}


def test_searches_drop_nul_characters_and_refuse_a_paste_of_50000_characters(session):
    from core import invoice_history, invoice_history_count, search_groups

    acme = create_party(session, account_code="ACME", name="Acme Works", actor=ACTOR)
    assert [p.id for p in search_parties(session, text="ac\x00me")] == [acme.id]
    assert invoice_history(session, number_contains="\x00INV", status="all") == []
    for search in (lambda t: search_parties(session, text=t), lambda t: search_groups(session, text=t),
                   lambda t: invoice_history(session, number_contains=t),
                   lambda t: invoice_history_count(session, number_contains=t)):
        with pytest.raises(InvoiceDeskError, match=r"is 50,000 characters; search with at most 200\."):
            search("x" * 50_000)
    assert navigate(session, text="x" * 50_000).message == \
        "The search is 50,000 characters; search with at most 200."
