"""Every page as a manager sees it at a desk (1440 px) and on a phone (390 px): screenshots, and what must hold.

The screenshots go to INVOICE_DESK_SCREENSHOTS (default: a temporary folder, printed); scripts/screenshots.py
takes the same ones by hand. The checks are what the eye would catch: no page wider than the window, chart
labels neither cut off nor on top of each other, every allocation box named, no Markdown escape in a dropdown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import routed_without_page_not_found
from tests.support.browser import open_page, shoot_whole, tour

WIDTHS = (1440, 390)

# Every plotly chart's tick labels: inside the chart's own box, and no two of one axis overlapping.
CHART_LABELS = """() => {
  const problems = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const box = plot.getBoundingClientRect();
    for (const axis of ['xtick', 'ytick']) {
      const texts = [...plot.querySelectorAll(`g.${axis} text`)];
      const labels = texts.map(t => t.getBoundingClientRect()).filter(r => r.width > 0);
      // Labels plotly turned to fit have overlapping boxes by design; turned labels are checked for clipping only.
      const turned = texts.some(t => (t.getAttribute('transform') || '').includes('rotate'));
      for (const r of labels) {
        if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
          problems.push(`${axis} label outside its chart`);
      }
      for (let i = 1; i < labels.length && !turned; i++) {
        const a = labels[i - 1], b = labels[i];
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
          problems.push(`${axis} labels overlap`);
      }
    }
  }
  return problems;
}"""

WIDER_THAN_WINDOW = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  return Math.max(document.documentElement.scrollWidth, main ? main.scrollWidth : 0);
}"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("INVOICE_DESK_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_window_with_readable_charts(server, page, shots, width):
    base, url = server
    for name, path, text in tour(url):
        open_page(page, base, path, text, width)
        routed_without_page_not_found(page)
        assert page.evaluate(WIDER_THAN_WINDOW) <= width, f"{name} is wider than a {width} px window"
        assert page.evaluate(CHART_LABELS) == [], f"{name} at {width} px"
        if name == "payments":
            # Each allocation box is named by its invoice (on a phone it sits under that invoice's line).
            boxes = page.get_by_label("Apply to INV-", exact=False)
            expect(boxes.first).to_be_visible()
            numbers = page.locator('[data-testid="stMarkdownContainer"] strong', has_text="INV-")
            assert boxes.count() == numbers.count() > 0
            if width < 800:
                first_line = numbers.first.bounding_box()
                first_box = boxes.first.bounding_box()
                assert first_line and first_box and 0 < first_box["y"] - first_line["y"] < 120
        target = shoot_whole(page, shots / f"{name}-{width}.png", width)
        assert target.stat().st_size > 10_000


def test_no_markdown_escape_in_any_dropdown_of_the_demo(server, page):
    """Issue 11 #6: options read "Tariq Adams · $221.00", never "\\$221\\.00"."""
    base, url = server
    seen: list[str] = []
    for name, path, text in tour(url):
        open_page(page, base, path, text, 1440)
        routed_without_page_not_found(page)
        tabs = page.get_by_role("tab")
        for t in range(max(1, tabs.count())):  # the pickers of every tab (credit memo, allocate, void...)
            if tabs.count():
                tabs.nth(t).click()
                page.wait_for_timeout(300)
            pickers = page.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').locator(
                "visible=true")
            for i in range(pickers.count()):
                pickers.nth(i).locator('[role="combobox"], input').first.click()
                options = page.get_by_role("option")
                if options.count():
                    seen += [f"{name}: {t}" for t in options.all_inner_texts()]
                page.keyboard.press("Escape")
    assert [t for t in seen if "\\" in t] == []
    assert any("$" in t for t in seen), "the tour opened dropdowns with amounts in them"
