"""The charts, as plotly figures built from core's report results: the pages and the notebooks draw the same ones.

No Streamlit here. Every figure has currency on its axis and in its hover, starts its money axis at $0, fits a
phone's width (short labels, the legend above the plot, margins that grow to fit the labels), and on no data
shows an empty plot with a sentence saying why instead of axes around nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import plotly.graph_objects as go

PAID = "#3e8e7e"
OPEN = "#e0a030"
AGING = "#0b4f6c"


def _layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height, title=title, barmode="stack", hovermode="x unified" if len(fig.data) > 1 else "closest",
        margin=dict(l=8, r=8, t=48 if title else 28, b=8),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        yaxis=dict(tickprefix="$", tickformat=",.0f", rangemode="tozero", automargin=True, fixedrange=True),
        xaxis=dict(automargin=True, fixedrange=True),  # plotly turns crowded labels on a narrow screen
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


def invoices_by_month_figure(months: Sequence, *, height: int = 300, title: str | None = None) -> go.Figure:
    """Stacked bars per month first sent: paid or credited, and open (core.invoices_by_month rows)."""
    # "Dec / 2025", "Jan / 2026", "Feb", ...: the year under the first month and under each January, so twelve
    # labels fit side by side without turning.
    labels = [f"{m.month:%b}<br>{m.month:%Y}" if n == 0 or m.month.month == 1 else f"{m.month:%b}"
              for n, m in enumerate(months)]
    fig = _layout(go.Figure([
        go.Bar(name="Paid or credited", x=labels, y=_money([m.paid_or_credited for m in months]), marker_color=PAID,
               customdata=[f"{m.month:%B %Y}" for m in months], hovertemplate="%{customdata}: $%{y:,.2f}"),
        go.Bar(name="Open", x=labels, y=_money([m.open for m in months]), marker_color=OPEN,
               customdata=[f"{m.month:%B %Y}" for m in months], hovertemplate="%{customdata}: $%{y:,.2f}"),
    ]), height=height, title=title)
    if not any(m.paid_or_credited or m.open for m in months):
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
