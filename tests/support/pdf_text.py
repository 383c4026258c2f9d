"""Reading PDFs in tests: the text a reader sees, page by page, and the images a page draws."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader


def pdf_pages(pdf: bytes) -> list[str]:
    """Each page's text with every run of whitespace (line breaks included) made one space."""
    return [re.sub(r"\s+", " ", page.extract_text()).strip() for page in PdfReader(io.BytesIO(pdf)).pages]


def pdf_text(pdf: bytes) -> str:
    return " ".join(pdf_pages(pdf))


def page_images(pdf: bytes) -> list[list[tuple[int, int]]]:
    """Per page, the (width, height) in pixels of every image XObject in the page's resources."""
    found: list[list[tuple[int, int]]] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        images = []
        for ref in (xobjects.get_object().values() if xobjects is not None else []):
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                images.append((int(obj["/Width"]), int(obj["/Height"])))
        found.append(images)
    return found


def pdf_runs(pdf: bytes) -> list[list[tuple[str, float]]]:
    """Per page, each run of text as drawn, with the size it is printed at in points (rounded to 0.1)."""
    found: list[list[tuple[str, float]]] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        runs: list[tuple[str, float]] = []

        def visit(text, cm, tm, _font, size, runs=runs):
            if text.strip():
                runs.append((text.strip(), round(size * (tm[0] or 1) * (cm[0] or 1), 1)))

        page.extract_text(visitor_text=visit)
        found.append(runs)
    return found
