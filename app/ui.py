"""Widgets and formatting the pages share: tables with money and dates, pagination, pickers, errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

import pandas as pd
import streamlit as st

from app.state import reading
from core import InvoiceDeskError, csv_bytes, format_money, search_groups, search_parties

PAGE_SIZE = 50
# Markdown, LaTeX ($), emoji and colour directives (:red[...]) that Streamlit would interpret.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def md(value: object) -> str:
    """Text a user typed, or an amount with its $, shown literally in anything Streamlit renders as Markdown."""
    return _MARKDOWN.sub(r"\\\1", str(value))


def money(value: Decimal) -> str:
    """An amount for a Markdown message (escaped); tables show Decimal columns instead."""
    return md(format_money(value))


def plain_money(value: Decimal) -> str:
    """An amount for plain text: a dropdown's options and a multiselect's show no Markdown, so no escapes."""
    return format_money(value)


def table(rows: list[dict], *, money_columns: Sequence[str] = (), date_columns: Sequence[str] = (),
          key: str | None = None, selection: str | None = None, height: int | Literal["auto"] = "auto",
          column_help: dict[str, str] | None = None, csv_name: str | None = None,
          on_select: Callable[[], None] | None = None):
    """A dataframe whose money columns stay Decimal (exact), right-aligned and shown as dollars.

    The grid's own export is off (.streamlit/config.toml); csv_name adds a download of these rows
    with formula-looking text defused.
    """
    frame = pd.DataFrame(rows)
    config: dict = {}
    for name in money_columns:
        config[name] = st.column_config.NumberColumn(name, format="dollar", help=(column_help or {}).get(name))
    for name in date_columns:
        config[name] = st.column_config.DateColumn(name, format="YYYY-MM-DD")
    if rows:
        # The first column names the row (a batch, an invoice, a receipt): pinned, so on a phone it stays in
        # view while the rest scrolls sideways. Pages put the columns a manager looks for next.
        first = next(iter(rows[0]))
        config[first] = config.get(first) or st.column_config.Column(first)
        config[first]["pinned"] = True
    kwargs: dict = {}
    if selection:
        # A callback runs only when the selection changes, so a row ticked earlier does not act again on
        # every later rerun (it would override a batch opened since by a link or the search).
        kwargs = {"on_select": on_select or "rerun", "selection_mode": selection, "key": key}
    shown = st.dataframe(frame, column_config=config, hide_index=True, width="stretch", height=height, **kwargs)
    if csv_name and rows:
        # Made when clicked, not on every rerun (issue 16: it was a third of a warm Employer Dashboard).
        st.download_button("Download CSV", data=lambda: csv_bytes(rows), file_name=f"{csv_name}.csv", mime="text/csv",
                           icon=":material/table_view:", key=f"csv_{csv_name}_{key or ''}", on_click="ignore")
    return shown


def clear_fields(defaults: dict[str, object]) -> None:
    """Put a form's fields back to their defaults after a write, in the browser too (call before they are drawn).

    Assigning a widget's key makes Streamlit send the value to the page; deleting the key would leave what the
    manager typed on screen, ready to be sent again (issue 11 #2, seen only in a real browser).
    """
    for key, value in defaults.items():
        st.session_state[key] = value


def totals_line(label_values: list[tuple[str, Decimal]]) -> None:
    st.caption(" · ".join(f"{label}: **{money(value)}**" for label, value in label_values))


def paginator(total: int, *, key: str, page_size: int = PAGE_SIZE) -> int:
    """A page picker under long lists; returns the offset to read from."""
    pages = max(1, -(-total // page_size))
    if pages == 1:
        return 0
    left, right = st.columns([1, 4])
    page = left.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key=key)
    right.caption(f"{total:,} rows, {pages:,} pages of {page_size}")
    return (int(page) - 1) * page_size


@st.cache_data(ttl=60, show_spinner=False)
def party_choices(include_inactive: bool = False) -> dict[int, str]:
    with reading() as s:
        return {p.id: f"{p.name} ({p.account_code})"
                for p in search_parties(s, limit=100_000, include_inactive=include_inactive)}


@st.cache_data(ttl=60, show_spinner=False)
def group_choices(include_inactive: bool = False) -> dict[int, str]:
    with reading() as s:
        return {g.id: g.name + ("" if g.active else " (inactive)")
                for g in search_groups(s, limit=100_000, include_inactive=include_inactive)}


def party_picker(label: str, *, key: str, include_inactive: bool = False, placeholder: str = "Type a name or code",
                 bind: str | None = None, default: int | None = None) -> int | None:
    """A party look-up: type any part of the name or account code to narrow the list."""
    choices = party_choices(include_inactive)
    options = list(choices)
    index = options.index(default) if default in choices else None
    kwargs: dict = {"bind": bind} if bind else {}
    return st.selectbox(label, options, index=index, format_func=lambda i: choices.get(i, str(i)),
                        placeholder=placeholder, key=key, **kwargs)


def group_picker(label: str, *, key: str) -> int | None:
    choices = group_choices()
    return st.selectbox(label, list(choices), index=None, format_func=lambda i: choices.get(i, str(i)),
                        placeholder="Type a group name", key=key)


def url_number(name: str, what: str) -> int | None:
    """A number from the page's URL (?party_id=6, ?batch=42): ASCII digits within BIGINT, else a message and None."""
    from core.inputs import parse_id

    typed = st.query_params.get(name)
    if not typed:
        return None
    number = parse_id(typed)
    if number is None:
        st.warning(f"{md(typed[:40])} in the link is not {what}; choose one below.", icon=":material/link_off:")
    return number


def request_key(form: str) -> str:
    """This form's submission id, passed to core as request_key: a second submission of the same form (a double
    click, a rerun that repeats the action) returns the first result instead of acting twice."""
    name = f"_request_key_{form}"
    if name not in st.session_state:
        st.session_state[name] = f"{form}:{uuid.uuid4().hex}"
    return st.session_state[name]


def attempt(action: Callable[[], object], *, where=None, once: str | None = None) -> object | None:
    """Run a core call; a refusal is shown next to the form and nothing is changed.

    With once=<form>, the action used request_key(form); after it succeeds the form gets a new key, so the next
    entry is a new action.
    """
    try:
        result = action()
    except InvoiceDeskError as exc:
        (where or st).error(md(exc), icon=":material/error:")
        return None
    if once is not None and result:
        st.session_state.pop(f"_request_key_{once}", None)
    return result


def newer_older(*, key: str, has_more: bool, page_size: int = PAGE_SIZE) -> int:
    """Newer/Older buttons for lists read newest first; returns the offset to read from."""
    offset = st.session_state.get(key, 0)
    # A horizontal container keeps the two buttons side by side on a phone too (columns would stack them).
    row = st.container(horizontal=True)
    if row.button("Newer", disabled=offset == 0, key=f"{key}_newer"):
        st.session_state[key] = max(0, offset - page_size)
        st.rerun()
    if row.button("Older", disabled=not has_more, key=f"{key}_older"):
        st.session_state[key] = offset + page_size
        st.rerun()
    return offset


def shortcut(key: str, button_label: str) -> None:
    """Press `key` (F2) anywhere on the page, typing in a field included, to click the button `button_label`.

    Streamlit's own button shortcut ignores keys typed into a field, which is where a keyboard user is. This
    listens on the page in the capture phase, before any field sees the key: it takes the focus out of the
    field first, so what was being typed is committed and submitted with the form, then clicks the button.
    """
    import json

    script = f"""<script>
const doc = window.parent.document;
const key = {json.dumps(key)}, label = {json.dumps(button_label)};
const flag = "__invoiceDeskShortcut_" + key;
if (!doc[flag]) {{
  doc[flag] = true;
  doc.addEventListener("keydown", (event) => {{
    if (event.key !== key || event.repeat) return;
    const button = [...doc.querySelectorAll("button")].find((b) => b.innerText.includes(label));
    if (!button) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (button.disabled) return;
    const field = doc.activeElement;
    if (field && field !== doc.body) field.blur();
    setTimeout(() => button.click(), 120);
  }}, true);
}}
</script>"""
    if hasattr(st, "iframe"):  # Streamlit 1.5x's same-origin iframe; components.v1.html is going away
        st.iframe(script, height=1)
    else:
        import streamlit.components.v1 as components

        components.html(script, height=0)


def months_back(day: date, months: int) -> date:
    """The first day of the month `months - 1` months before `day`'s: the start of a chart window of `months`."""
    first = day.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first
