"""Audit log: who did what, when, to which records; filter by who, what and when."""

import streamlit as st

from app.state import local_time, reading, require_router
from app.ui import PAGE_SIZE, newer_older, paginator, table
from core import audit_actions, audit_actors, audit_change_count, audit_changes, audit_log
from core.audit import describe

require_router()
st.title("Audit log")


@st.cache_data(ttl=30, show_spinner=False)
def _choices():
    with reading() as s:
        return audit_actors(s), audit_actions(s)


@st.cache_data(ttl=30, show_spinner=False)
def _entries(who, what, since, until, offset):
    with reading() as s:
        return audit_log(s, actor=who, action=what, since=since, until=until, limit=PAGE_SIZE + 1, offset=offset)


actors, actions = _choices()
c1, c2, c3, c4 = st.columns(4)
who = c1.selectbox("Who", actors, index=None, placeholder="Anyone", key="audit_who")
what = c2.selectbox("What", actions, index=None, placeholder="Any action", key="audit_what")
since = c3.date_input("From", value=None, key="audit_since", format="YYYY-MM-DD")
until = c4.date_input("To", value=None, key="audit_until", format="YYYY-MM-DD")
offset = st.session_state.get("audit_offset", 0)
entries = _entries(who, what, since, until, offset)
more = len(entries) > PAGE_SIZE
entries = entries[:PAGE_SIZE]
table([{"When": local_time(e.at), "Who": e.actor, "What": e.action, "Record": e.record,
        "Details": e.details} for e in entries],
      csv_name="audit-log")
if not entries:
    st.caption("No audit records match these filters.")
newer_older(key="audit_offset", has_more=more)

# An import records each row it created or changed apart from its audit record (a file may have 200,000 rows).
imports = {e.id: f"{local_time(e.at)} · {e.actor} · {e.action} · {e.detail.get('rows', 0):,} rows"
           for e in entries if e.action.startswith("import.")}
if imports:
    st.subheader("What an import changed")
    chosen = st.selectbox("Import", list(imports), format_func=imports.get, key="audit_import")


    @st.cache_data(ttl=30, show_spinner=False)
    def _changes(audit_id, offset):
        with reading() as s:
            return audit_change_count(s, audit_id=audit_id), audit_changes(s, audit_id=audit_id, limit=PAGE_SIZE,
                                                                           offset=offset)


    total, _ = _changes(chosen, 0)
    start = paginator(total, key=f"audit_changes_{chosen}")
    _, rows = _changes(chosen, start)
    table([{"Row": c.line, "Record": f"{c.entity} {c.key}", "Action": c.action,
            "Changes": describe(f"import.{c.action}", c.changes)}
           for c in rows], csv_name="import-changes")
    if not total:
        st.caption("This import left every row as it was.")
