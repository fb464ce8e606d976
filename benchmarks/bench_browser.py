"""The app as a user meets it: a warm `streamlit run app.py` driven by headless Chromium.

    uv run python benchmarks/bench_browser.py                  # every part, the shipped checkpoints
    uv run python benchmarks/bench_browser.py --only pages,live --repeats 3

Prints, each beside the server's own measure of its script runs ($GENLAB_TIMING_LOG, genlab.runlog):
  pages  each page's draw time on a warm server, after one visit to every page has warmed it: from a
         click on its sidebar link, and from its link opened afresh (a new session), until the script
         has finished, the charts are drawn and the images loaded;
  tabs   a click on each tab of Blur vs sharpness until its section is drawn (the first time each
         runs in the server, and again)
  beta   a β change on Latent traversal (the arrow key on the β slider of the dSprites β sweep),
         each β the first time and again;
  umap   the first UMAP map of a shipped checkpoint on Code space in this server process, and of a
         second one;
  live   the Mode-collapse page playing its live GAN: training steps per second and screen updates
         per second (changes of the Step figure the browser sees), alone and while N other sessions
         (their own Chromium each, or with --others-kind protocol a client that speaks Streamlit's
         websocket protocol and fetches the images but draws nothing: browsers on other machines, as
         in a class) load pages one after another; beside them, the training process's own steps per
         second and share of a core (its "train" records in the timing log).
Targets (issue 29): every page < 2 s warm, a β change < 1 s, the first UMAP of a shipped
checkpoint < 3 s, the live page ≥ 200 steps/s at ≥ 4 updates/s, keeping ≥ 75 % of that while four
other sessions load pages. Every figure depends on the machine and on what else runs on it (the
browsers share its cores with the server): the script prints the CPU and the load average, and
docs/benchmarks.md the figures measured here.

The server gets an empty runs folder and a fresh cache (so the first UMAP really is the first), and
serves the checkpoints of --checkpoints. Uses scripts/screenshots.py's server and browser helpers;
needs Debian's chromium and chromium-driver (scripts/install-chromium.sh).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab import runlog  # noqa: E402


def _screenshots():
    spec = importlib.util.spec_from_file_location("genlab_screenshots", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


shots = _screenshots()
PARTS = ("pages", "tabs", "beta", "umap", "live")
# every page of the app at its defaults, as a first visit opens it
PAGE_URLS = [("Home", "/"), ("Latent traversal", "/Latent_traversal"), ("Blur vs sharpness", "/Blur_vs_sharpness"),
             ("Mode collapse", "/Mode_collapse"), ("Code space", "/Code_space"), ("Train", "/Train"),
             ("Study", "/Study")]
NAV_TITLES = {"Home": "Home", "Latent traversal": "Latent traversal", "Blur vs sharpness": "VAE blur vs GAN sharpness",
              "Mode collapse": "Mode collapse", "Code space": "Code space", "Train": "Train", "Study": "Study"}
PLOTTED = {"/Latent_traversal", "/Mode_collapse", "/Code_space"}  # Blur vs sharpness opens on its pictures
LOAD_CYCLE = ["/", "/Latent_traversal", "/Blur_vs_sharpness", "/Code_space", "/Train", "/Study"]

# Records, in page time (performance.now(), ms), every change of the app's script state, so a run that
# starts and ends between two polls is still seen.
WATCH_STATE = """
const app = document.querySelector('[data-testid="stApp"]');
window.__states = [[performance.now(), app.getAttribute('data-test-script-state')]];
if (window.__stateObs) window.__stateObs.disconnect();
window.__stateObs = new MutationObserver(() => window.__states.push(
    [performance.now(), app.getAttribute('data-test-script-state')]));
window.__stateObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
return performance.now();
"""
# Counts the changes of the first metric's value (the live page's Step), polled every 10 ms.
WATCH_STEP = """
window.__stepChanges = 0; window.__lastStep = null;
if (window.__stepTimer) clearInterval(window.__stepTimer);
window.__stepTimer = setInterval(() => {
  const v = document.querySelector('[data-testid="stMetricValue"]');
  const t = v ? v.textContent : null;
  if (t !== null && t !== window.__lastStep) { window.__stepChanges += 1; window.__lastStep = t; }
}, 10);
"""
# Installed in every new document: the app's script states from the start of the visit.
TRACK_VISIT = """
window.__phases = [];
(function poll() {
  const app = document.querySelector('[data-testid="stApp"]');
  const s = app ? app.getAttribute('data-test-script-state') : null;
  const n = window.__phases.length;
  if (!n || window.__phases[n - 1][1] !== s) window.__phases.push([performance.now(), s]);
  setTimeout(poll, 10);
})();
"""
READ_STEP = """
const v = document.querySelector('[data-testid="stMetricValue"]');
return [performance.now(), window.__stepChanges, v ? v.textContent : null];
"""


def machine() -> str:
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{name}, {os.cpu_count()} CPUs, load average {load:.1f}"


def wait_drawn(driver, plot: bool, timeout: float) -> None:
    """The script finished, a chart drawn where one is expected, the images loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    shots.wait_done(driver, timeout)
    if plot:
        WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, shots.PLOT)))
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))


def track_visits(driver) -> None:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRACK_VISIT})


def visit(driver, base: str, path: str, timeout: float) -> float:
    t0 = time.perf_counter()
    driver.get(base + path)
    wait_drawn(driver, path.split("?")[0] in PLOTTED, timeout)
    return time.perf_counter() - t0


def visit_phases(driver) -> dict:
    """Of the visit just made, in seconds from the navigation's start: when the script first ran,
    when it last finished, and now (all drawn)."""
    phases, now = driver.execute_script("return [window.__phases || [], performance.now()]")
    running = [t for t, s in phases if s == "running"]
    done = [t for t, s in phases if s == "notRunning"]
    first = running[0] if running else float("nan")
    last = done[-1] if done else float("nan")
    return {"start": first / 1000, "end": last / 1000, "drawn": now / 1000}


def wait_rerun(driver, t_action: float, timeout: float) -> float:
    """Seconds from `t_action` (page time, ms) until a script run that started after it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = driver.execute_script("return window.__states")
        started = [t for t, s in states if t >= t_action and s == "running"]
        if started:
            done = [t for t, s in states if t > started[0] and s == "notRunning"]
            if done:
                return (done[0] - t_action) / 1000
        time.sleep(0.02)
    raise TimeoutError(f"no script run ended within {timeout:.0f} s of the change")


class ServerLog:
    """The server's timing log, read between two marks."""

    def __init__(self, path: Path):
        self.path = path

    def mark(self) -> float:
        return time.time()

    def since(self, t0: float, t1: float | None = None, page: str | None = None, what: str | None = None) -> list:
        out = []
        for r in runlog.read(self.path):
            if r["t"] < t0 or (t1 is not None and r["t"] > t1):
                continue
            if page is not None and r["page"] != page:
                continue
            if what is not None and not r["what"].startswith(what):
                continue
            out.append(r)
        return out


def med(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt(x: float, unit: str = "s") -> str:
    return "–" if x != x else f"{x:.2f} {unit}"


# --------------------------------------------------------------------------- the parts


def navigate(driver, title: str, plot: bool, timeout: float) -> float:
    """Click the sidebar's link to the page titled `title`; seconds until that page's title is shown, its
    script has finished and it is drawn."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def arrived(d):
        try:
            h1 = d.find_elements(By.CSS_SELECTOR, "h1")
            return (bool(h1) and h1[0].text.strip() == title
                    and bool(d.find_elements(By.CSS_SELECTOR, shots.APP_DONE)))
        except StaleElementReferenceException:
            return False

    link = next(e for e in driver.find_elements(By.CSS_SELECTOR, shots.NAV_LINK) if e.text.strip() == title)
    t0 = time.perf_counter()
    link.click()
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(arrived)
    wait_drawn(driver, plot, timeout)
    return time.perf_counter() - t0


def bench_pages(driver, base, log: ServerLog, repeats: int, timeout: float, only: set | None = None) -> None:
    print("\n## Each page on a warm server")
    print("sidebar: a click on the page's link in the sidebar (from Home) until the page is drawn; fresh: the "
          "page's link opened in the browser (a new session: the app's scripts loaded from the browser's cache and "
          "run again); script starts / ends: when the browser saw the page's script first run and last finish, "
          "on a fresh visit; server: the script's run time measured in the server")
    print(f"{'page':<20} {'sidebar':>9} {'fresh':>9} {'slowest':>9} {'script starts':>14} {'script ends':>12} "
          f"{'server':>9}  (medians of {repeats})")
    for title, path in PAGE_URLS:
        if only and title not in only:
            continue
        plot = path.split("?")[0] in PLOTTED
        page = path.strip("/").split("?")[0] or "Home"
        clicks, times, server, phases = [], [], [], []
        for _ in range(repeats):
            if path != "/":  # Home is where the clicks start from: a fresh visit only
                visit(driver, base, "/", timeout)
                t0 = log.mark()
                try:
                    clicks.append(navigate(driver, NAV_TITLES[title], plot, min(timeout, 60)))
                except TimeoutError as e:
                    print(f"  {title}: the sidebar click failed ({e})")
                server.append(sum(r["seconds"] for r in log.since(t0, page=page, what="script")))
            t0 = log.mark()
            times.append(visit(driver, base, path, timeout))
            phases.append(visit_phases(driver))
            if path == "/":
                server.append(sum(r["seconds"] for r in log.since(t0, page=page, what="script")))
        slowest = max(clicks + times)
        flag = "" if slowest < 2 else "  over 2 s"
        print(f"{title:<20} {fmt(med(clicks)):>9} {fmt(med(times)):>9} {fmt(slowest):>9} "
              f"{fmt(med([p['start'] for p in phases])):>14} {fmt(med([p['end'] for p in phases])):>12} "
              f"{fmt(med(server)):>9}{flag}")


def sweep_group(checkpoints: Path) -> str | None:
    from genlab.checkpoint import list_checkpoints
    from genlab.compare import traversal_groups

    groups = [g for g in traversal_groups(list_checkpoints(checkpoints))
              if g["data"] == "dsprites" and g["sweep"] and not g["study"] and len(g["members"]) > 2]
    return groups[0]["id"] if groups else None


# Blur vs sharpness's tabs (each runs only when opened), in the order a class reads them: whether each
# draws a plotly chart
BLUR_TABS = [("Sharpness", True), ("Precision and recall", True), ("Nearest real sprite", True),
             ("One z, two decoders", False), ("Pictures", False)]


def bench_tabs(driver, base, log: ServerLog, timeout: float) -> None:
    """A click on each tab of Blur vs sharpness until its section is drawn, twice round the tabs."""
    from selenium.webdriver.common.by import By

    print("\n## The tabs of Blur vs sharpness (dSprites): a click until the tab's section is drawn")
    visit(driver, base, "/Blur_vs_sharpness", timeout)
    for round_ in ("first time", "again"):
        cells = []
        for label, plot in BLUR_TABS:
            tab = next(e for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTab"]') if e.text.strip() == label)
            t_action = driver.execute_script(WATCH_STATE)
            t0 = log.mark()
            tab.click()
            seconds = wait_rerun(driver, t_action, timeout)
            wait_drawn(driver, plot, timeout)
            drawn = (driver.execute_script("return performance.now()") - t_action) / 1000
            server = sum(r["seconds"] for r in log.since(t0, what="script"))
            cells.append(f"{label} {drawn:.2f} s (script done {seconds:.2f} s, server {server:.2f} s)")
        print(f"{round_:<11} " + "; ".join(cells))


def bench_beta(driver, base, log: ServerLog, group: str, timeout: float, changes: int = 4) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    print(f"\n## A β change on Latent traversal ({group})")
    visit(driver, base, f"/Latent_traversal?group={quote(group)}", timeout)
    for round_ in ("first time at each β", "again"):
        times, server = [], []
        for i in range(changes):
            key = Keys.ARROW_RIGHT if round_ != "again" else Keys.ARROW_LEFT
            sliders = [s for s in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSlider"]')
                       if "β (weight" in s.text]
            thumb = sliders[0].find_element(By.CSS_SELECTOR, 'input[type="range"]')
            driver.execute_script("arguments[0].focus()", thumb)  # a visually hidden input: keys go to the focus
            t_action = driver.execute_script(WATCH_STATE)
            t0 = log.mark()
            ActionChains(driver).send_keys(key).perform()
            seconds = wait_rerun(driver, t_action, timeout)
            wait_drawn(driver, True, timeout)
            times.append(seconds)
            server.append(sum(r["seconds"] for r in log.since(t0, what="script")))
        print(f"{round_:<22} browser {fmt(med(times))} median, {fmt(max(times))} slowest; "
              f"server script {fmt(med(server))} median  ({changes} changes)")


def bench_umap(driver, base, log: ServerLog, checkpoints: Path, timeout: float) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from genlab.checkpoint import list_checkpoints

    rows = [r for r in list_checkpoints(checkpoints)
            if r.ok and r.kind == "model" and r.data == "dsprites" and "beta-sweep" not in r.path]
    picks = [r.path for r in rows if r.model == "beta-vae"][:1] + [r.path for r in rows if r.model == "aae"][:1]
    print("\n## The first UMAP of a shipped checkpoint on Code space (1,000 points, prior samples overlaid)")
    for i, path in enumerate(picks):
        t0 = log.mark()
        start = time.perf_counter()
        driver.get(f"{base}/Code_space?ckpt={quote(path)}&method=UMAP")

        def umap_drawn(d):
            return any("UMAP of" in e.text for e in d.find_elements(By.CSS_SELECTOR, shots.PLOT))

        WebDriverWait(driver, timeout, poll_frequency=0.05).until(umap_drawn)
        shots.wait_done(driver, timeout)
        seconds = time.perf_counter() - start
        server = sum(r["seconds"] for r in log.since(t0, what="script"))
        which = "first in this server" if i == 0 else "a second checkpoint"
        flag = "" if seconds < 3 else "  over 3 s"
        print(f"{Path(path).parent.name:<24} ({which}): browser {fmt(seconds)}, server script {fmt(server)}{flag}")


def live_rate(driver, seconds: float) -> tuple[float, float]:
    """(steps per second, screen updates per second) of the playing live page over `seconds`."""
    t0, c0, s0 = driver.execute_script(READ_STEP)
    time.sleep(seconds)
    t1, c1, s1 = driver.execute_script(READ_STEP)
    dt = (t1 - t0) / 1000
    steps = int((s1 or "0").replace(",", "")) - int((s0 or "0").replace(",", ""))
    return steps / dt, (c1 - c0) / dt


def trained_rate(records: list) -> tuple[float, float]:
    """(steps per second, share of a core) of the live page's training process, from its once-a-second
    "train" records in the server's timing log (NaN where it wrote none: the code before issue 29 trained
    in a thread of the server)."""
    seconds = sum(r["seconds"] for r in records)
    if not seconds:
        return float("nan"), float("nan")
    return sum(r["steps"] for r in records) / seconds, sum(r["cpu"] for r in records) / seconds


class ProtocolSession:
    """A session that asks the server for pages as a browser does, over Streamlit's websocket protocol
    (BackMsg.rerun_script with the page's URL path; ForwardMsgs until script_finished), and fetches the
    page's images from /media, but lays out and draws nothing: the server's share of a visit, as from
    a browser on another machine. Streamlit's protocol is internal to it (checked with 1.67)."""

    MEDIA = re.compile(rb"/media/[0-9a-f]+\.[a-z0-9]+")

    def __init__(self, base: str, timeout: float):
        import websocket  # websocket-client: comes with selenium

        self.base = base
        self.ws = websocket.create_connection(base.replace("http", "ws", 1) + "/_stcore/stream",
                                              subprotocols=["streamlit"], timeout=timeout)

    def visit(self, path: str) -> float:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        url = urlsplit(path)
        msg = BackMsg()
        msg.rerun_script.page_name = url.path.strip("/")
        msg.rerun_script.query_string = url.query
        t0 = time.perf_counter()
        self.ws.send_binary(msg.SerializeToString())
        media = set()
        while True:
            raw = self.ws.recv()
            media.update(self.MEDIA.findall(raw))
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            if fwd.WhichOneof("type") == "script_finished":
                break
        for m in media:
            with urllib.request.urlopen(self.base + m.decode(), timeout=self.ws.gettimeout()) as r:
                r.read()
        return time.perf_counter() - t0

    def quit(self) -> None:
        self.ws.close()


def load_pages(browser, base: str, stop: threading.Event, counts: list, i: int, timeout: float,
               ready: threading.Barrier, cpu: list | None = None, nice: int = 0, pause: float = 0.0) -> None:
    """Session i loads LOAD_CYCLE's pages one after another until `stop`, counting the loads; `browser`
    is (chromium, chromedriver) or None for a ProtocolSession. A ProtocolSession runs in this thread: its
    own CPU time goes into cpu[i] (it stands for a browser on another machine, yet takes these cores), and
    with `nice` the thread runs at that much more niceness (Linux sets it per thread). `pause`: seconds
    between the end of one load and the next (a student reading the page; 0: back to back)."""
    if browser is None:
        if nice and sys.platform.startswith("linux"):
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + int(nice)))
            except OSError:
                pass
        session = ProtocolSession(base, timeout)
        load = session.visit
    else:
        session = shots.make_driver(*browser)
        load = lambda path: visit(session, base, path, timeout)  # noqa: E731
    try:
        k = i
        try:
            load(LOAD_CYCLE[k % len(LOAD_CYCLE)])  # started and loading before we measure
        finally:
            ready.wait(timeout)
        k += 1
        while not stop.is_set():
            try:
                load(LOAD_CYCLE[k % len(LOAD_CYCLE)])
                counts[i] += 1
                if cpu is not None:
                    cpu[i] = time.thread_time()
                if pause > 0:
                    stop.wait(pause)
            except Exception:  # noqa: BLE001 - a load cut short by the stop; the count is what matters
                pass
            k += 1
    finally:
        session.quit()


def niced_browser(browser: tuple, nice: int, folder: Path) -> tuple:
    """(chromium, chromedriver) with chromium started at niceness `nice`: the other sessions' browsers stand
    for browsers on other machines, which on a real server would not take its CPU. Only roughly: run as
    root, Chromium sets its renderers' niceness itself, and where the kernel groups processes by session
    (Linux's autogroup) a niceness counts only within the session (docs/benchmarks.md)."""
    if not nice:
        return browser
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {int(nice)} "{browser[0]}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), browser[1]


def bench_live(driver, browser, base, log: ServerLog, seconds: float, others: int, timeout: float,
               others_nice: int = 0, others_kind: str = "browser", others_pause: float = 0.0) -> None:
    from selenium.webdriver.common.by import By

    print(f"\n## The live Mode-collapse page playing (ring, defaults), {seconds:.0f} s a measure")
    visit(driver, base, "/Mode_collapse", timeout)
    play = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button") if "Play" in b.text)
    play.click()
    time.sleep(3)  # the first frames
    driver.execute_script(WATCH_STEP)
    time.sleep(0.5)
    t0 = log.mark()
    alone = live_rate(driver, seconds)
    frames = log.since(t0, what="fragment")
    alone_trained = trained_rate(log.since(t0, what="train"))
    print(f"alone:                {alone[0]:7.1f} steps/s, {alone[1]:4.1f} updates/s; server: {len(frames)} frame runs, "
          f"median {fmt(med([r['seconds'] for r in frames]))} ({fmt(med([r['cpu'] for r in frames]))} CPU); "
          f"training process: {alone_trained[0]:.1f} steps/s ({100 * alone_trained[1]:.0f} % of a core)")
    if others:
        stop, counts = threading.Event(), [0] * others
        other_browser = niced_browser(browser, others_nice, log.path.parent) if others_kind == "browser" else None
        ready = threading.Barrier(others + 1)
        cpu = [0.0] * others  # the protocol clients' own CPU seconds (this process's threads)
        threads = [threading.Thread(target=load_pages, args=(other_browser, base, stop, counts, i, timeout, ready, cpu,
                                                             others_nice if other_browser is None else 0,
                                                             others_pause),
                                    daemon=True) for i in range(others)]
        for t in threads:
            t.start()
        ready.wait(timeout)  # every other browser started and has loaded a first page
        t0 = log.mark()
        c0, cpu0, w0 = sum(counts), sum(cpu), time.perf_counter()
        busy = live_rate(driver, seconds)
        loaded = sum(counts) - c0
        clients_cpu = (sum(cpu) - cpu0) / (time.perf_counter() - w0)
        frames = log.since(t0, what="fragment")
        scripts = log.since(t0, what="script")
        stop.set()
        for t in threads:
            t.join(timeout)
        kept = busy[0] / alone[0] if alone[0] else float("nan")
        busy_trained = trained_rate(log.since(t0, what="train"))
        kept_trained = busy_trained[0] / alone_trained[0] if alone_trained[0] else float("nan")
        niced = (f" (protocol clients: no browser; their own CPU {clients_cpu:.2f} of a core"
                 + (f", at nice +{others_nice})" if others_nice else ")") if other_browser is None else
                 f" (their browsers at nice {others_nice})" if others_nice else "")
        paced = f", each pausing {others_pause:g} s between loads" if others_pause > 0 else ""
        print(f"with {others} others loading{niced}{paced}: {busy[0]:7.1f} steps/s, {busy[1]:4.1f} updates/s "
              f"({100 * kept:.0f} % of the steps alone); the others finished {loaded} page loads; server: "
              f"{len(frames)} frame runs, median {fmt(med([r['seconds'] for r in frames]))} "
              f"({fmt(med([r['cpu'] for r in frames]))} CPU); {len(scripts)} page runs, median "
              f"{fmt(med([r['seconds'] for r in scripts]))}; training process: {busy_trained[0]:.1f} steps/s "
              f"({100 * busy_trained[1]:.0f} % of a core, {100 * kept_trained:.0f} % of its rate alone)")
    pause = next((b for b in driver.find_elements(By.CSS_SELECTOR, "button") if "Pause" in b.text), None)
    if pause is not None:
        pause.click()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    ap.add_argument("--repeats", type=int, default=3, help="timed visits per page")
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--others", type=int, default=4, help="sessions loading pages beside the live page")
    ap.add_argument("--others-nice", type=int, default=0,
                    help="run the other sessions' browsers (or protocol clients' threads) at this much niceness, as if "
                         "they ran on other machines [0]")
    ap.add_argument("--others-kind", choices=("browser", "protocol"), default="browser",
                    help="the other sessions: a Chromium each, or a client of Streamlit's protocol that draws "
                         "nothing (browsers on other machines) [browser]")
    ap.add_argument("--others-pause", type=float, default=0.0,
                    help="seconds each other session waits after a page has loaded before the next, as a student "
                         "reads it [0: back to back]")
    ap.add_argument("--pages", default="", help="comma-separated page titles to time in the pages part [every page]")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--port", type=int, default=None)
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    bad_pages = {t.strip() for t in args.pages.split(",") if t.strip()} - {t for t, _ in PAGE_URLS}
    if bad_pages:
        ap.error(f"unknown pages {sorted(bad_pages)}; choose from {', '.join(t for t, _ in PAGE_URLS)}")
    checkpoints = Path(args.checkpoints).resolve()
    browser = shots.find_browser()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="genlab-bench-") as tmp:
        log = ServerLog(Path(tmp) / "timing.jsonl")
        env = {"GENLAB_CHECKPOINTS": str(checkpoints), "GENLAB_RUNS": str(Path(tmp) / "runs"),
               "GENLAB_CACHE": str(Path(tmp) / "cache"), runlog.ENV: str(log.path)}
        t_start, failed = time.perf_counter(), []
        only_pages = {t.strip() for t in args.pages.split(",") if t.strip()}
        with shots.serve(env, args.port, Path(tmp) / "streamlit.log", timeout=180) as base:
            driver = shots.make_driver(*browser)
            track_visits(driver)
            try:
                t0 = time.perf_counter()
                for title, path in PAGE_URLS:  # warm: imports, models, caches (of the pages timed)
                    if path == "/" or not only_pages or title in only_pages or "live" in parts:
                        visit(driver, base, path, args.timeout)
                print(f"server up and every page visited once in {time.perf_counter() - t_start:.0f} s "
                      f"(the visits {time.perf_counter() - t0:.0f} s)")
                group = sweep_group(checkpoints)
                runs = {"pages": lambda: bench_pages(driver, base, log, args.repeats, args.timeout, only_pages),
                        "tabs": lambda: bench_tabs(driver, base, log, args.timeout),
                        "beta": lambda: (bench_beta(driver, base, log, group, args.timeout) if group else
                                         print("\n(no dSprites β sweep of three or more βs here: no β change)")),
                        "umap": lambda: bench_umap(driver, base, log, checkpoints, args.timeout),
                        "live": lambda: bench_live(driver, browser, base, log, args.live_seconds, args.others,
                                                   args.timeout, args.others_nice, args.others_kind,
                                                   args.others_pause)}
                for part in PARTS:
                    if part in parts:
                        try:  # one part failing leaves the others' figures
                            runs[part]()
                        except Exception as e:  # noqa: BLE001
                            failed.append(part)
                            print(f"\n{part}: FAILED ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            finally:
                driver.quit()
        if failed:
            print(shots.tail(Path(tmp) / "streamlit.log"), file=sys.stderr)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
