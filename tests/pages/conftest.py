"""AppTest fixtures: the app on a fresh SQLite file, empty or with the demo practice."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlmodel import Session

from core import load_demo_data, open_engine

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def _point_at(monkeypatch, url: str) -> None:
    monkeypatch.setenv("INVOICE_DESK_DATABASE_URL", url)
    monkeypatch.delenv("INVOICE_DESK_DEMO", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def warm_server(monkeypatch):
    """Run each AppTest as on a server that has been used once.

    AppTest puts Streamlit back in its legacy pages/ mode before every run; a real server leaves it
    for good after the router's first st.navigation, and that is the state managers work in.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = open_engine(f"sqlite:///{path}")
    with Session(engine) as s:
        load_demo_data(s)
        s.commit()
    engine.dispose()
    return path


@pytest.fixture
def demo_db(monkeypatch, tmp_path, demo_file):
    """A private copy of the demo database, so a test's writes never leak into another's."""
    import shutil

    path = tmp_path / "demo.db"
    shutil.copy(demo_file, path)
    url = f"sqlite:///{path}"
    _point_at(monkeypatch, url)
    yield url
    st.cache_resource.clear()


@pytest.fixture
def empty_db(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    _point_at(monkeypatch, url)
    yield url
    st.cache_resource.clear()
