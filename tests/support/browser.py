"""The app on a loopback port and Debian's Chromium, for browser tests and screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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


def start_app(database: Path | str, port: int, *, demo: bool = True, log: Path | None = None) -> subprocess.Popen:
    """Streamlit serving streamlit_app.py on 127.0.0.1:port; returns once its health check answers.

    database is a SQLite file or any database URL; log, when given, keeps the server's output for a failure message.
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
                                 "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
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
