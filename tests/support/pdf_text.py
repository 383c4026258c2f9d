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
