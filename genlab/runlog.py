"""How long the app's script runs take, measured inside the server: off unless $GENLAB_TIMING_LOG
names a file, then one JSON line per run of a page (app.py) or of a timed fragment:

    {"t": 1764000000.1, "session": "…", "page": "Mode_collapse", "what": "fragment:live",
     "seconds": 0.21, "cpu": 0.18, "end": "ok"}

seconds: wall time of the run in the script thread; cpu: that thread's own CPU time (the rest is
waiting: for the GIL, for other threads, for I/O); end: "ok", or the exception that ended it
(StopException for st.stop, RerunException for st.rerun). benchmarks/bench_browser.py reads it to
put the server's side beside what the browser sees. Costs nothing when the variable is unset.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

ENV = "GENLAB_TIMING_LOG"
_LOCK = threading.Lock()


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def _session_id() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx else ""
    except Exception:  # noqa: BLE001 - outside Streamlit
        return ""


def write(record: dict) -> None:
    """Append one record to the log (a no-op when it is off)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps(record) + "\n"
    with _LOCK, open(path, "a") as f:
        f.write(line)


@contextlib.contextmanager
def timed(what: str, page: str = ""):
    """Time the block as one run of `what` ("script", "fragment:live" …) on `page`."""
    if not enabled():
        yield
        return
    wall, t0, c0 = time.time(), time.perf_counter(), time.thread_time()
    end = "ok"
    try:
        yield
    except BaseException as e:  # st.stop and st.rerun end a run by raising
        end = type(e).__name__
        raise
    finally:
        write({"t": wall, "session": _session_id(), "page": page, "what": what,
               "seconds": round(time.perf_counter() - t0, 4), "cpu": round(time.thread_time() - c0, 4), "end": end})


def read(path) -> list[dict]:
    """The records of a log file (a line cut short by a crash is skipped)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    except FileNotFoundError:
        pass
    return out


def timed_fragment(what: str, page: str = ""):
    """A decorator: every run of the function (a fragment's body) is `timed`."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with timed(what, page):
                return fn(*args, **kwargs)
        return run
    return wrap
