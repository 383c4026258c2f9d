"""The dashboard page renders on the demo data and on an empty database."""

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP


def test_dashboard_shows_recent_invoices_on_demo_data(demo_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Statement/Invoice Management Dashboard"
    table = at.dataframe[0].value
    assert len(table) == 20 and table["Invoice"].str.startswith("INV-").all()


def test_dashboard_on_an_empty_database_does_not_crash(empty_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("switched off" in w.value for w in at.warning)
