"""Screenshots of every page of the app in a real headless Chromium, for the README tour.

    uv run python scripts/screenshots.py                    # checkpoints/ -> docs/screenshots/<page>.png
    uv run python scripts/screenshots.py --checkpoints DIR --out DIR --port 8531

Starts `streamlit run app.py` the way Streamlit's own end-to-end tests do (headless, on a free
port, file watcher off), polls /_stcore/health, opens each page with Selenium, waits until the
script has finished (`[data-testid="stApp"][data-test-script-state="notRunning"]`), for a plotly
chart where one is expected and for the images to load, then saves a 1400×1000 PNG. A page that
shows a Streamlit exception or an error box fails the run. The server is always stopped.

Needs Debian's Chromium and its driver once:  apt-get install -y chromium chromium-driver
tests/test_browser.py drives the same functions against a folder of tiny checkpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SETUP = "apt-get install -y chromium chromium-driver"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)
WINDOW = (1400, 1000)
MAX_PNG_BYTES = 400_000

APP_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NAV_LINK = '[data-testid="stSidebarNavLink"]'  # the sidebar's page links
PLOT = ".js-plotly-plot"
EXCEPTION = '[data-testid="stException"]'
ALERT = '.stAlert, [data-testid="stAlert"]'
ERROR_BOX = '[data-testid="stAlertContentError"]'


@dataclass
class Page:
    name: str  # docs/screenshots/<name>.png
    path: str  # URL path; pages/1_Latent_traversal.py is served at /Latent_traversal
    plot: bool  # wait for a plotly chart
    query: str = ""  # e.g. "n=200": a lighter view for a slow CPU
    steps: int = 0  # Mode collapse: press "Step" until this many training steps are shown
    title: str = field(default="")


PAGES = [
    Page("home", "/", plot=False, title="genlab: a lab for deep generative models"),
    Page("latent_traversal", "/Latent_traversal", plot=True, title="Latent traversal"),
    Page("blur_vs_sharpness", "/Blur_vs_sharpness", plot=False, query="n=200", title="VAE blur vs GAN sharpness"),
    Page("mode_collapse", "/Mode_collapse", plot=True, steps=500, title="Mode collapse"),
    Page("code_space", "/Code_space", plot=True, title="Code space"),
    Page("train", "/Train", plot=False, title="Train"),
    Page("study", "/Study", plot=True, title="Study"),
]


# --------------------------------------------------------------------------- the browser


def _find(env_var: str, candidates: tuple, name: str) -> str | None:
    if os.environ.get(env_var):  # an explicit path wins (other distributions put them elsewhere)
        return os.environ[env_var] if Path(os.environ[env_var]).is_file() else None
    return next((p for p in candidates if Path(p).is_file()), None) or shutil.which(name)


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths: $GENLAB_CHROMIUM / $GENLAB_CHROMEDRIVER, else Debian's paths,
    else PATH. RuntimeError naming the set-up command when either is missing."""
    chromium = _find("GENLAB_CHROMIUM", CHROMIUM, "chromium")
    driver = _find("GENLAB_CHROMEDRIVER", CHROMEDRIVER, "chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p]
    if missing:
        raise RuntimeError(f"{' and '.join(missing)} not found (looked at $GENLAB_CHROMIUM, $GENLAB_CHROMEDRIVER, "
                           f"{', '.join(CHROMIUM + CHROMEDRIVER)} and PATH). Install them once with:  {SETUP}")
    return chromium, driver


def make_driver(chromium: str, chromedriver: str, window=WINDOW):
    """Headless Chromium at a fixed window size (the screenshot's size)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", f"--window-size={window[0]},{window[1]}", "--no-sandbox",
                "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
    # The window includes the (invisible) browser frame; fix the viewport itself, so a screenshot is exactly `window`.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict | None = None, port: int | None = None, log_path: Path | None = None, timeout: float = 90):
    """Run `streamlit run app.py` headless on `port` (a free one by default); yield its base URL.

    Waits for /_stcore/health; stops the server (its whole process group) on exit. The
    server's output goes to `log_path` (a temporary file by default), quoted when it fails."""
    port = port or free_port()
    env = {**os.environ, **(env or {})}
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny nets; leave the second core to the browser
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]
    log_path = Path(log_path) if log_path else Path(os.environ.get("TMPDIR", "/tmp")) / f"genlab-streamlit-{port}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{tail(log_path)}")
            time.sleep(0.5)
        yield base
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group, SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def tail(path: Path, n: int = 3000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


# --------------------------------------------------------------------------- one page


def wait_done(driver, timeout: float) -> None:
    """Until the page's title is drawn and its script has finished running."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, poll_frequency=0.25)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "h1")))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, APP_DONE)))


def press_step(driver, steps: int, timeout: float) -> None:
    """Mode collapse: press "⏭ Step" until the Step metric reaches `steps`."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown() -> int:
        try:  # the page may redraw between finding an element and reading it
            vals = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')
            return int(vals[0].text.replace(",", "")) if vals else 0
        except (ValueError, StaleElementReferenceException):
            return 0

    for _ in range(100):
        before = shown()
        if before >= steps:
            return
        def step_button(d):  # None until the page has drawn its Step button (it may be mid-rerun)
            try:
                return next((b for b in d.find_elements(By.CSS_SELECTOR, "button") if "Step" in b.text), None)
            except StaleElementReferenceException:
                return None

        for attempt in range(5):
            try:
                WebDriverWait(driver, timeout, poll_frequency=0.25).until(step_button).click()
                break
            except StaleElementReferenceException:
                time.sleep(0.5)
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: shown() > before)
        wait_done(driver, timeout)


def problems(driver) -> list[str]:
    """Streamlit exceptions and error boxes on the page, as text."""
    from selenium.webdriver.common.by import By

    found = [f"exception: {e.text[:300]}" for e in driver.find_elements(By.CSS_SELECTOR, EXCEPTION)]
    found += [f"error box: {e.text[:300]}" for e in driver.find_elements(By.CSS_SELECTOR, ERROR_BOX)]
    for a in driver.find_elements(By.CSS_SELECTOR, ALERT):
        if "Error" in a.text or "Traceback" in a.text:
            found.append(f"alert: {a.text[:300]}")
    return sorted(set(found))


def shrink_png(path: Path, limit: int = MAX_PNG_BYTES) -> None:
    """Re-save a screenshot over `limit` bytes as an optimised 256-colour PNG."""
    if path.stat().st_size <= limit:
        return
    from PIL import Image

    img = Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    path.write_bytes(buf.getvalue())


def shoot(driver, base: str, page: Page, png: Path, timeout: float = 180,
          before: Callable | None = None) -> dict:
    """Open `page`, wait for it, screenshot it to `png`; {"page", "png", "seconds", "problems", "title", "nav"}."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    t0 = time.monotonic()
    url = base + page.path + (f"?{page.query}" if page.query else "")
    driver.get(url)
    wait_done(driver, timeout)
    if page.steps:
        press_step(driver, page.steps, timeout)
    if page.plot:
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, PLOT)))
    WebDriverWait(driver, 30, poll_frequency=0.25).until(  # media images served and decoded
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
    if before is not None:
        before(driver)
    time.sleep(0.8)  # plotly and the images settle their layout
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(png))
    shrink_png(png)
    h1 = driver.find_elements(By.CSS_SELECTOR, "h1")
    nav = [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, NAV_LINK)]
    return {"page": page.name, "url": url, "png": str(png), "seconds": round(time.monotonic() - t0, 1),
            "problems": problems(driver), "title": h1[0].text if h1 else "", "nav": nav}


def shoot_all(out_dir: Path, env: dict | None = None, pages=PAGES, port: int | None = None,
              timeout: float = 180, log_path: Path | None = None, browser: tuple | None = None) -> list[dict]:
    """Serve the app, screenshot every page into OUT_DIR/<name>.png, stop the server.
    `browser`: (chromium, chromedriver), found with find_browser() when not given."""
    chromium, chromedriver = browser or find_browser()
    reports = []
    with serve(env, port, log_path) as base:
        driver = make_driver(chromium, chromedriver)
        try:
            for page in pages:
                reports.append(shoot(driver, base, page, Path(out_dir) / f"{page.name}.png", timeout))
        finally:
            driver.quit()
    return reports


def prefer_dsprites(page: Page, checkpoints: Path) -> Page:
    """The traversal page opens on a dSprites β sweep when there is one (its factors read best)."""
    if page.name != "latent_traversal":
        return page
    from genlab.checkpoint import list_checkpoints
    from genlab.compare import traversal_groups

    groups = [g for g in traversal_groups(list_checkpoints(checkpoints)) if g["data"] == "dsprites"]
    if not groups:
        return page
    from urllib.parse import urlencode

    return Page(page.name, page.path, page.plot, urlencode({"group": groups[0]["id"]}), page.steps, page.title)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(ROOT / "checkpoints"), help="folder of checkpoints to show")
    ap.add_argument("--runs", default=None, help="runs folder (default: an empty temporary one, so only the "
                    "shipped checkpoints show)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=240, help="seconds to wait for one page")
    args = ap.parse_args(argv)

    import tempfile

    pages = [prefer_dsprites(p, Path(args.checkpoints).resolve()) for p in PAGES]
    with tempfile.TemporaryDirectory(prefix="genlab-shots-") as tmp:
        env = {"GENLAB_CHECKPOINTS": str(Path(args.checkpoints).resolve()),
               "GENLAB_RUNS": str(Path(args.runs).resolve()) if args.runs else str(Path(tmp) / "runs"),
               "GENLAB_CACHE": str(Path(tmp) / "cache")}
        try:
            reports = shoot_all(Path(args.out), env, pages, port=args.port, timeout=args.timeout,
                                log_path=Path(tmp) / "streamlit.log")
        except RuntimeError as e:
            print(f"screenshots: {e}", file=sys.stderr)
            return 1
    bad = 0
    for r in reports:
        size = Path(r["png"]).stat().st_size
        print(f"{r['page']:<18} {r['seconds']:>6.1f} s  {size / 1000:>6.0f} KB  {r['png']}")
        for p in r["problems"]:
            bad += 1
            print(f"    PROBLEM {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
