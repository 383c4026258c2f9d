"""The charts, as plotly figures built from core's report results: the pages and the notebooks draw the same ones.

No Streamlit here. Every figure has currency on its axis and in its hover, starts its money axis at $0, fits a
phone's width (short labels, the legend above the plot, margins that grow to fit the labels), and on no data
shows an empty plot with a sentence saying why instead of axes around nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

import plotly.graph_objects as go

from core.as_of import basis_label

__all__ = ["aging_breakdown_figure", "aging_figure", "basis_label", "collections_figure", "days_to_pay_figure",
           "days_to_pay_trend_figure", "invoices_by_month_figure", "month_labels", "rebatch_effect_figure"]

PAID = "#3e8e7e"
OPEN = "#e0a030"
AGING = "#2b7bb9"  # a mid blue: as clear on a dark theme as on a light one
LINE = "#8e5bbf"
REFUNDED = "#c8553d"
# One colour per aging bucket, young to old, readable on a light and a dark background alike.
BUCKET_COLOURS = ("#8fc1a9", "#3e8e7e", "#e0a030", "#d9742b", "#c8553d", "#8c2d2d")


def _layout(fig: go.Figure, *, height: int, title: str | None = None, money: str = "y",
            hovermode: str | None = None) -> go.Figure:
    """The house layout; `money` names the axis that carries dollars ("y", "x" for horizontal bars, "" for none)."""
    money_axis = dict(tickprefix="$", tickformat=",.0f", rangemode="tozero")
    legend = len(fig.data) > 1
    # A title sits at the top of the figure and the legend just above the plot; on a phone the legend wraps to
    # two lines, so a figure with both keeps room for them apart.
    top = (48 + 16 * len(fig.data) if legend else 48) if title else (28 if not legend else 36)
    fig.update_layout(
        height=height + (top - 48 if title and legend else 0),
        title=dict(text=title, y=1, yref="container", yanchor="top", pad=dict(t=8)) if title else None,
        barmode="stack", hovermode=hovermode or ("x unified" if legend else "closest"),
        margin=dict(l=8, r=8, t=top, b=8),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, traceorder="normal",
                    font=dict(size=11)),
        # The other axis carries names (months, buckets, parties, "-2"): always categories, so plotly never reads a
        # label that looks like a number ("-2", "-3") or a year (a party called "2024") as one.
        yaxis=dict(automargin=True, fixedrange=True, **(money_axis if money == "y" else {}),
                   **({"type": "category"} if money == "x" else {})),
        xaxis=dict(automargin=True, fixedrange=True, **(money_axis if money == "x" else {}),
                   **({"type": "category"} if money != "x" else {})),
        separators=".,",
    )
    return fig


def _empty(fig: go.Figure, message: str) -> go.Figure:
    """No data: the plot keeps its size, hides its axes and says why (never an axis from $-1 to $1)."""
    fig.data = ()
    fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False), showlegend=False,
                      annotations=[dict(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                                        font=dict(size=14))])
    return fig


def _money(values: Sequence[Decimal]) -> list[float]:
    return [float(v) for v in values]


def month_labels(months: Sequence[date]) -> list[str]:
    """ "Dec '25", "Jan '26", "Feb", ...: one line each, the year on the first month and on each January, so twelve
    fit level on a wide screen and, turned by plotly on a phone, never run into each other."""
    return [f"{m:%b} '{m:%y}" if n == 0 or m.month == 1 else f"{m:%b}" for n, m in enumerate(months)]


def _month_bar(name: str, months: Sequence[date], values: Sequence[Decimal], colour: str) -> go.Bar:
    return go.Bar(name=name, x=month_labels(months), y=_money(values), marker_color=colour,
                  customdata=[f"{m:%B %Y}" for m in months], hovertemplate="%{customdata}: $%{y:,.2f}")


def invoices_by_month_figure(months: Sequence, *, height: int = 300, title: str | None = None,
                             balance_line: bool = True) -> go.Figure:
    """Stacked bars per month first sent: settled (paid, credited or written off) and still open
    (core.invoices_by_month rows), with the whole open balance at each month's end as a line."""
    days = [m.month for m in months]
    traces = [_month_bar("Paid or credited", days, [m.paid_or_credited for m in months], PAID),
              _month_bar("Open", days, [m.open for m in months], OPEN)]
    if balance_line:
        traces.append(go.Scatter(name="Open balance at month end", x=month_labels(days),
                                 y=_money([m.open_balance for m in months]), mode="lines+markers",
                                 line=dict(color=LINE, width=2), customdata=[f"end of {m:%B %Y}" for m in days],
                                 hovertemplate="Open balance at the %{customdata}: $%{y:,.2f}"))
    fig = _layout(go.Figure(traces), height=height, title=title)
    if not any(m.paid_or_credited or m.open or m.open_balance for m in months):
        return _empty(fig, "No invoices sent in these months yet")
    return fig


def aging_figure(aging: Mapping[str, Decimal], *, height: int = 300, title: str | None = None,
                 basis: str = "days since first sent") -> go.Figure:
    """One bar per aging bucket of the open balance (core.open_aging or a party account's aging); `basis` names
    what the days count (core.as_of.basis_label: "days since first sent" or "days past due")."""
    fig = _layout(go.Figure(go.Bar(x=list(aging), y=_money(list(aging.values())), marker_color=AGING,
                                   hovertemplate=f"%{{x}} ({basis}): $%{{y:,.2f}}<extra></extra>")),
                  height=height, title=title)
    fig.update_xaxes(title=dict(text=basis, font=dict(size=11)))
    if not any(aging.values()):
        return _empty(fig, "Nothing is open: no balance to age")
    return fig


def aging_breakdown_figure(rows: Sequence, *, basis: str, height: int | None = None, title: str | None = None,
                           empty_message: str = "Nothing is open: no balance to age") -> go.Figure:
    """One horizontal bar per group or party (core.aging_report rows), stacked by aging bucket, largest on top."""
    rows = [row for row in rows if row.total]
    names = [row.name if len(row.name) <= 28 else row.name[:27] + "…" for row in rows][::-1]
    buckets = list(rows[0].buckets) if rows else []
    traces = [go.Bar(name=bucket, orientation="h", y=names, x=_money([row.buckets[bucket] for row in rows][::-1]),
                     marker_color=BUCKET_COLOURS[-len(buckets):][n], customdata=[row.name for row in rows][::-1],
                     hovertemplate=f"%{{customdata}}, {bucket} ({basis}): $%{{x:,.2f}}<extra></extra>")
              for n, bucket in enumerate(buckets)]
    fig = _layout(go.Figure(traces), height=height or max(220, 60 + 26 * len(rows)), title=title, money="x",
                  hovermode="closest")
    if not rows:
        return _empty(fig, empty_message)
    return fig


def collections_figure(months: Sequence, *, height: int = 300, title: str | None = None) -> go.Figure:
    """Money received by month (core.collections_by_month): applied to invoices, refunded, still unapplied."""
    days = [m.month for m in months]
    fig = _layout(go.Figure([_month_bar("Applied", days, [m.applied for m in months], PAID),
                             _month_bar("Refunded", days, [m.refunded for m in months], REFUNDED),
                             _month_bar("Unapplied", days, [m.unapplied for m in months], OPEN)]),
                  height=height, title=title)
    if not any(m.received for m in months):
        return _empty(fig, "No money received in these months yet")
    return fig


def days_to_pay_figure(report, *, height: int = 300, title: str | None = None) -> go.Figure:
    """How many invoices were paid within each span of days after first sending (core.days_to_pay)."""
    spans = list(report.distribution)
    fig = _layout(go.Figure(go.Bar(x=spans, y=list(report.distribution.values()), marker_color=AGING,
                                   hovertemplate="Paid in %{x} days: %{y:,} invoices<extra></extra>")),
                  height=height, title=title, money="")
    fig.update_yaxes(title=dict(text="invoices paid", font=dict(size=11)), rangemode="tozero", tickformat=",d")
    fig.update_xaxes(title=dict(text="days from first sending to paid", font=dict(size=11)), tickangle=0)
    if not report.invoices:
        return _empty(fig, "No invoice was paid off in these months yet")
    return fig


def days_to_pay_trend_figure(by_month: Sequence, *, height: int = 300, title: str | None = None) -> go.Figure:
    """The average days to pay of the invoices paid off in each month (core.days_to_pay(...).by_month); a month
    with none paid off is a gap the line steps over."""
    fig = _layout(go.Figure(go.Scatter(
        name="Average days to pay", x=month_labels([m.month for m in by_month]),
        y=[float(m.average_days) if m.average_days is not None else None for m in by_month], mode="lines+markers",
        connectgaps=True, line=dict(color=LINE, width=2),
        customdata=[[f"{m.month:%B %Y}", m.invoices] for m in by_month],
        hovertemplate="%{customdata[0]}: %{y:.1f} days on average (%{customdata[1]:,} invoices)<extra></extra>")),
        height=height, title=title, money="")
    fig.update_yaxes(title=dict(text="days", font=dict(size=11)), rangemode="tozero")
    if all(m.average_days is None for m in by_month):
        return _empty(fig, "No invoice was paid off in these months yet")
    return fig


def rebatch_effect_figure(rows: Sequence, *, height: int = 300, title: str | None = None) -> go.Figure:
    """Resends by month (core.rebatch_effect rows, by month) or by sending: what was outstanding when sent, and how
    much of it was paid within 30 days."""
    if rows and rows[0].month is None:
        labels = ["first sending" if r.sending == 1 else "-4 and later" if r.sending == 4 else f"-{r.sending}"
                  for r in rows]
        when = labels
    else:
        labels, when = month_labels([r.month for r in rows]), [f"resent in {r.month:%B %Y}" for r in rows]
    share = [f"{r.share_paid:.0%}" if r.share_paid is not None else "-" for r in rows]
    fig = _layout(go.Figure([
        go.Bar(name="Outstanding when sent", x=labels, y=_money([r.outstanding for r in rows]), marker_color=OPEN,
               customdata=when, hovertemplate="%{customdata}: $%{y:,.2f} outstanding"),
        go.Bar(name="Paid within 30 days", x=labels, y=_money([r.paid_within_30_days for r in rows]),
               marker_color=PAID, customdata=list(zip(when, share, strict=True)),
               hovertemplate="%{customdata[0]}: $%{y:,.2f} paid within 30 days (%{customdata[1]})"),
    ]), height=height, title=title)
    fig.update_layout(barmode="group")
    if not any(r.outstanding for r in rows):
        return _empty(fig, "No invoice was resent with a balance in these months")
    return fig
