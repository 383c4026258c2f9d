"""Drawing many PDFs over all cores, in worker processes that start from this module.

A worker is `python -m core.pdf_worker`: a fresh interpreter that imports only core, reads its share of the
jobs (pickled, from the parent, never from anyone else) on stdin and writes each PDF back on stdout as it is
done. It never re-runs the app script, as a multiprocessing "spawn" child would (inside `streamlit run`,
`__main__` is streamlit_app.py), and it holds no database connection: the parent gathered everything first.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from core.errors import InvoiceDeskError

_FRAME = struct.Struct(">Q")
_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    # Drawing a batch is background work: a manager posting a receipt meanwhile gets the CPU first.
    if hasattr(os, "nice"):
        os.nice(10)
    from core.documents import _render

    jobs = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our own parent process
    out = sys.stdout.buffer
    for index, job in jobs:
        result: tuple[int, bytes | None, str | None]
        try:
            result = (index, _render(job), None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as the manager's message
            result = (index, None, str(exc) if isinstance(exc, InvoiceDeskError) else f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(result)
        out.write(_FRAME.pack(len(data)))
        out.write(data)
        out.flush()


def _read_frames(stream, results: queue.Queue) -> None:
    """Pass each PDF a worker sends on; always end with None, even when the worker died half-way through one."""
    try:
        while True:
            head = stream.read(_FRAME.size)
            if len(head) < _FRAME.size:
                return
            size = _FRAME.unpack(head)[0]
            data = stream.read(size)
            if len(data) < size:
                return  # the worker stopped mid-document: the caller sees fewer PDFs than jobs
            results.put(pickle.loads(data))  # noqa: S301 - our own worker
    except Exception:  # noqa: BLE001 - a broken stream is a worker that stopped; reported by the caller
        return
    finally:
        results.put(None)


def render_in_workers(jobs: Sequence, workers: int, progress: Callable[[int, int], None] | None = None) -> list[bytes]:
    """Every job drawn by `workers` worker processes; progress is called on this thread as PDFs arrive."""
    total = len(jobs)
    shares = [[(i, jobs[i]) for i in range(w, total, workers)] for w in range(workers)]
    results: queue.Queue = queue.Queue()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    procs, logs = [], []
    try:
        for share in (s for s in shares if s):
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen([sys.executable, "-m", "core.pdf_worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, cwd=_ROOT, env=env)
            procs.append(proc)
            logs.append(log)
            threading.Thread(target=_feed, args=(proc, share), daemon=True).start()
            threading.Thread(target=_read_frames, args=(proc.stdout, results), daemon=True).start()
        pdfs: list[bytes | None] = [None] * total
        done = finished = 0
        while finished < len(procs):
            item = results.get()
            if item is None:
                finished += 1
                continue
            index, pdf, error = item
            if error:
                raise InvoiceDeskError(f"The document could not be drawn ({error}); nothing was saved.")
            pdfs[index] = pdf
            done += 1
            if progress:
                progress(done, total)
        if done < total:
            detail = b"".join(_tail(log) for log in logs).decode(errors="replace").strip().splitlines()[-1:]
            raise InvoiceDeskError("A PDF worker stopped before it finished; nothing was saved. Try again"
                                   + (f" ({detail[0][:200]})." if detail else "."))
        return [pdf for pdf in pdfs if pdf is not None]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for log in logs:
            log.close()


def _feed(proc: subprocess.Popen, share: list) -> None:
    assert proc.stdin is not None
    try:
        pickle.dump(share, proc.stdin)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def _tail(log) -> bytes:
    log.seek(0)
    return log.read()[-2000:]


if __name__ == "__main__":
    main()
