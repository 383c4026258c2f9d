"""Drawing many PDFs over all cores, in worker processes that start from this module.

A worker is `python -m core.pdf_worker`: a fresh interpreter that imports only core, reads its jobs one frame at
a time on stdin (pickled by the parent as it gathers them, never by anyone else) and writes each PDF back on stdout
as it is done. It never re-runs the app script, as a multiprocessing "spawn" child would (inside `streamlit run`,
`__main__` is streamlit_app.py), and it holds no database connection: the parent gathers everything.
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
from collections.abc import Callable, Iterable
from pathlib import Path

from core.errors import InvoiceDeskError

_FRAME = struct.Struct(">Q")
_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    # Drawing a batch is background work: a manager posting a receipt meanwhile gets the CPU first.
    if hasattr(os, "nice"):
        os.nice(10)
    from core.documents import _render

    jobs, out = sys.stdin.buffer, sys.stdout.buffer
    while (frame := _read_frame(jobs)) is not None:
        index, job = pickle.loads(frame)  # noqa: S301 - written by our own parent process
        result: tuple[int, bytes | None, str | None]
        try:
            result = (index, _render(job), None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as the manager's message
            result = (index, None, str(exc) if isinstance(exc, InvoiceDeskError) else f"{type(exc).__name__}: {exc}")
        _write_frame(out, pickle.dumps(result))


def _read_frame(stream) -> bytes | None:
    """The next frame, or None at the end of the stream (or a frame cut short: its writer stopped)."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    size = _FRAME.unpack(head)[0]
    data = stream.read(size)
    return data if len(data) == size else None


def _write_frame(stream, data: bytes) -> None:
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frames(stream, results: queue.Queue) -> None:
    """Pass each PDF a worker sends on; always end with None, even when the worker died half-way through one."""
    try:
        while (frame := _read_frame(stream)) is not None:
            results.put(pickle.loads(frame))  # noqa: S301 - our own worker
    except Exception:  # noqa: BLE001 - a broken stream is a worker that stopped; reported by the caller
        return
    finally:
        results.put(None)


def render_in_workers(jobs: Iterable, workers: int, progress: Callable[[int, int], None] | None = None, *,
                      total: int | None = None, in_order: Callable[[bytes], None] | None = None) -> list[bytes]:
    """Every job drawn by `workers` worker processes, in the jobs' order.

    Jobs may be a generator: each is handed to a worker as soon as it is made, so gathering the next ones overlaps
    the drawing (issue 16). `in_order` is called with each PDF as soon as every one before it is in (a batch PDF is
    put together meanwhile), and `progress` as PDFs arrive; both on this thread.
    """
    if total is None:
        jobs = list(jobs)
        total = len(jobs)
    results: queue.Queue = queue.Queue()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    procs: list[subprocess.Popen] = []
    logs: list = []
    pdfs: list[bytes | None] = [None] * total
    state = {"done": 0, "next": 0, "finished": 0}

    def take(item) -> None:
        if item is None:
            state["finished"] += 1
            return
        index, pdf, error = item
        if error:
            raise InvoiceDeskError(f"The document could not be drawn ({error}); nothing was saved.")
        pdfs[index] = pdf
        state["done"] += 1
        while in_order and state["next"] < total and pdfs[state["next"]] is not None:
            in_order(pdfs[state["next"]])  # type: ignore[arg-type]
            state["next"] += 1
        if progress:
            progress(state["done"], total)

    def stopped() -> InvoiceDeskError:
        detail = b"".join(_tail(log) for log in logs).decode(errors="replace").strip().splitlines()[-1:]
        return InvoiceDeskError("A PDF worker stopped before it finished; nothing was saved. Try again"
                                + (f" ({detail[0][:200]})." if detail else "."))

    try:
        for _ in range(max(1, min(workers, total))):
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen([sys.executable, "-m", "core.pdf_worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, cwd=_ROOT, env=env)
            procs.append(proc)
            logs.append(log)
            threading.Thread(target=_read_frames, args=(proc.stdout, results), daemon=True).start()
        for index, job in enumerate(jobs):
            if index >= total:
                raise ValueError("more jobs than the total given")
            try:
                _write_frame(procs[index % len(procs)].stdin, pickle.dumps((index, job)))
            except (BrokenPipeError, OSError):
                raise stopped() from None
            while True:  # what has come back meanwhile
                try:
                    take(results.get_nowait())
                except queue.Empty:
                    break
        for proc in procs:
            assert proc.stdin is not None
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        while state["finished"] < len(procs):
            take(results.get())
        if state["done"] < total:
            raise stopped()
        return [pdf for pdf in pdfs if pdf is not None]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for log in logs:
            log.close()


def _tail(log) -> bytes:
    log.seek(0)
    return log.read()[-2000:]


if __name__ == "__main__":
    main()
