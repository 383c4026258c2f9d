"""The app on a loopback port and Debian's Chromium, for browser tests and screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# As root, Chromium needs these; the background-networking ones keep it off this closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(database: Path | str, port: int, *, demo: bool = True, log: Path | None = None,
              args: Sequence[str] = ()) -> subprocess.Popen:
    """Streamlit serving streamlit_app.py on 127.0.0.1:port; returns once its health check answers.

    database is a SQLite file or any database URL; log, when given, keeps the server's output for a failure message;
    args are more `streamlit run` options (say, `--secrets.files=...` for a sign-in test's secrets).
    """
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    env = {**os.environ, "INVOICE_DESK_DATABASE_URL": url}
    if demo:
        env["INVOICE_DESK_DEMO"] = "1"
    else:
        env.pop("INVOICE_DESK_DEMO", None)
    with (log.open("wb") if log else open(os.devnull, "wb")) as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "support" / "run_app.py"), "run",
                                 str(ROOT / "streamlit_app.py"), "--server.headless=true", f"--server.port={port}",
                                 "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", *args],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start" + (f":\n{log.read_text(errors='replace')[-3000:]}" if log else ""))


def tour(url: str) -> list[tuple[str, str, str]]:
    """Every page to look at, with ids read from the database: (name, path, a text the loaded page shows).

    Batch History opens the newest resend; the Employer Dashboard and Payments open the party with the most
    open invoices, so the tables, the charts and the allocation boxes all have rows.
    """
    import sqlalchemy as sa

    from core import open_engine, read_session
    from core.models import Batch, Invoice

    engine = open_engine(url)
    with read_session(engine) as s:
        batch = s.execute(sa.select(sa.func.max(Batch.number)).where(Batch.kind == "rebatch")).scalar()
        party = s.execute(sa.select(Invoice.party_id).where(Invoice.paid == sa.false()).group_by(Invoice.party_id)
                          .order_by(sa.func.count().desc(), Invoice.party_id).limit(1)).scalar()
    engine.dispose()
    return [("dashboard", "dashboard", "Statement/Invoice Management Dashboard"),
            ("batches", f"batches?batch={batch}", "Invoice Batch Items"),
            ("employer", f"employer?party_id={party}&status=All", "Invoice History"),
            ("payments", f"payments?party_id={party}", "Post receipt"),
            ("settings", "settings", "Invoice billing"),
            ("audit", "audit", "Audit log")]


def whole_height(page) -> int:
    """The height of the page's content (Streamlit's main block scrolls inside a frame the window's size)."""
    return int(page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMainBlockContainer"]');
        return Math.min(12000, Math.max(844, (main ? main.scrollHeight : document.body.scrollHeight) + 120));
    }"""))


def open_page(page, base: str, path: str, text: str, width: int) -> None:
    """Open a page at a window `width` wide, wait until `text` shows and the page has settled."""
    page.set_viewport_size({"width": width, "height": 900 if width > 800 else 844})
    page.goto(f"{base}/{path}", timeout=120_000)
    page.get_by_text(text).locator("visible=true").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)


def shoot_whole(page, target: Path, width: int) -> Path:
    """A screenshot of the whole page at this width (the window grown to the content's height)."""
    page.set_viewport_size({"width": width, "height": whole_height(page)})
    page.wait_for_timeout(800)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    return target
