"""The notebooks (notebooks/*.ipynb) run top to bottom with nbmake, each within two minutes, and are committed
without outputs.

nbmake runs in a child pytest on a copy of each notebook (`--overwrite` keeps the outputs in the copy), so the test
can read what each cell printed: the walkthrough's reconciliation says "all reconciled"; the month-end review runs
on the demo practice (written by the notebook itself into a new SQLite file, and into a new PostgreSQL database),
and on an empty database, where every chart says why it is empty; each run ends by writing its HTML report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from core import open_engine
from tests.conftest import _pg_database

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LIMIT = 120  # seconds per notebook: the "under two minutes each"
pytestmark = pytest.mark.clockless  # a notebook's kernel keeps the real clock, whatever the test run's


def _run(notebook: Path, tmp_path: Path, *, env: dict[str, str] | None = None, **parameters: str) -> nbformat.NotebookNode:
    """The notebook copied into tmp_path (its parameters cell set), run by nbmake; returns the run notebook."""
    nb = nbformat.read(notebook, as_version=4)
    if parameters:
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        lines = cell.source.splitlines()
        for name, value in parameters.items():
            index = next(n for n, line in enumerate(lines) if line.startswith(f"{name} ="))
            lines[index] = f"{name} = {value!r}"
        cell.source = "\n".join(lines)
    copy = tmp_path / notebook.name
    nbformat.write(nb, copy)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_DESK_DATABASE_URL", "PYTEST_"))}
    child_env.update(env or {})
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "-o", "addopts=", "--nbmake", "--overwrite", str(copy)],
                          cwd=tmp_path, env=child_env, capture_output=True, text=True, timeout=LIMIT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return nbformat.read(copy, as_version=4)


def _printed(nb: nbformat.NotebookNode) -> str:
    """Everything the cells printed or showed as text, in order."""
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            out.append(output.get("text", ""))
            out.append(output.get("data", {}).get("text/plain", ""))
            out.append(output.get("data", {}).get("text/markdown", ""))
            out.append(output.get("data", {}).get("text/html", "")[:20000])
    return "\n".join(out)


def _charts(nb: nbformat.NotebookNode) -> list[dict]:
    return [output["data"]["application/vnd.plotly.v1+json"] for cell in nb.cells for output in cell.get("outputs", [])
            if "application/vnd.plotly.v1+json" in output.get("data", {})]


def test_no_notebook_is_committed_with_outputs():
    assert {n.name for n in NOTEBOOKS} == {"walkthrough.ipynb", "month_end.ipynb"}
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), (
            f"{path.name} carries outputs: clear them (JupyterLab: Edit > Clear Outputs of All Cells) before committing")
        assert "widgets" not in nb["metadata"], path.name


def test_every_cell_has_a_line_saying_what_a_manager_does_where():
    """Each code cell of the walkthrough follows a markdown line naming the screen (or the setup)."""
    nb = nbformat.read(ROOT / "notebooks" / "walkthrough.ipynb", as_version=4)
    for before, cell in zip(nb.cells, nb.cells[1:], strict=False):
        if cell.cell_type == "code":
            assert before.cell_type == "markdown" and before.source.strip(), cell.source[:60]
    screens = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for screen in ("Create On-Demand Batch", "Post receipt", "Rebatch", "Credit memo", "Charts", "PDF",
                   "Reconciliation"):
        assert screen in screens


def test_the_walkthrough_tells_the_seed_story_and_reconciles(tmp_path):
    nb = _run(ROOT / "notebooks" / "walkthrough.ipynb", tmp_path)
    text = _printed(nb)
    assert "all reconciled" in text and "All reconciled as of" in text
    # The -2 item with the payment taken off, a credit memo, two charts, the reprint's first page as an image.
    assert "-2" in text and "Credit memo CM-" in text and "Receipt RCT-" in text
    assert len(_charts(nb)) == 2
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1 and len(images[0]["data"]["image/png"]) > 20_000


def _assert_month_end_report(nb: nbformat.NotebookNode, out: Path, *, empty: bool) -> None:
    text = _printed(nb)
    assert "all reconciled" in text and "Traceback" not in text
    assert len(_charts(nb)) == 9
    (report,) = out.glob("month-end-*.html")
    html = report.read_text(encoding="utf-8")
    assert "Month-end review for" in html and "all reconciled" in html
    assert html.count("Plotly.newPlot") == 9, "every chart in the mailed report"
    assert "DATABASE_URL" not in html, "the report carries no code"
    if empty:
        for message in ("No invoices sent in these months yet", "Nothing is open: no balance to age",
                        "No money received in these months yet", "All money received is applied"):
            assert message in text
    else:
        assert "Top 10 debtors" in html and "Nothing is open" not in text


def test_month_end_on_the_demo_practice(tmp_path):
    out = tmp_path / "exports"
    nb = _run(ROOT / "notebooks" / "month_end.ipynb", tmp_path, EXPORT_DIR=str(out),
              env={"INVOICE_DESK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"})
    _assert_month_end_report(nb, out, empty=False)


def test_month_end_on_the_demo_practice_on_postgresql(tmp_path, pg_cluster):
    out = tmp_path / "exports"
    nb = _run(ROOT / "notebooks" / "month_end.ipynb", tmp_path, EXPORT_DIR=str(out),
              env={"INVOICE_DESK_DATABASE_URL": _pg_database(pg_cluster)})
    _assert_month_end_report(nb, out, empty=False)


def test_month_end_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_engine(url).dispose()
    out = tmp_path / "exports"
    nb = _run(ROOT / "notebooks" / "month_end.ipynb", tmp_path, DATABASE_URL=url, EXPORT_DIR=str(out),
              MONTH="2026-10")
    _assert_month_end_report(nb, out, empty=True)


@pytest.mark.parametrize("month", ["2999-01", "October"])
def test_month_end_refuses_a_month_it_cannot_review(tmp_path, month):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_engine(url).dispose()
    with pytest.raises(AssertionError, match="has not begun yet|must be a month like 2026-10"):
        _run(ROOT / "notebooks" / "month_end.ipynb", tmp_path, DATABASE_URL=url, MONTH=month, EXPORT="")
