"""End to end in a real headless Chromium: `streamlit run app.py` serves tiny checkpoints, and
every page must render (script finished, charts drawn) with no exception and no error box.

Uses scripts/screenshots.py, which makes the README's screenshots the same way, so the script
is tested too. Needs Debian's Chromium and its driver:  apt-get install -y chromium chromium-driver
(the test fails, not skips, without them). Screenshots land in the test's tmp_path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from test_page_study import make_tiny_study
from test_pages import make_tiny_lab

from genlab import ui

ROOT = Path(__file__).resolve().parents[1]


def _load_screenshots():
    spec = importlib.util.spec_from_file_location("genlab_screenshots", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


shots = _load_screenshots()


@pytest.fixture(scope="module")
def browser() -> tuple[str, str] | str:
    """(chromium, chromedriver), or the reason they were not found (the test then fails, it does not skip)."""
    try:
        return shots.find_browser()
    except RuntimeError as e:
        return f"{e}\nThe end-to-end test needs a real browser: run  {shots.SETUP}"


@pytest.fixture(scope="module")
def tiny_checkpoints(browser, tmp_path_factory) -> Path | None:
    """A β sweep (β = 1, 4) and a GAN on dSprites, z = 3, 20 steps each, and a finished 2 × 2 study
    (β-VAEs on digits, trained the way a Ray task trains them): enough for every page."""
    if isinstance(browser, str):
        return None  # no browser: fail at once rather than train first
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folder = make_tiny_lab(tmp_path_factory.mktemp("browser") / "checkpoints",
                               names=("bvae-b1", "bvae-b4", "gan-dsprites"))
        make_tiny_study(folder / "tiny-study")
        return folder
    finally:
        torch.set_num_threads(threads)


@pytest.mark.browser
def test_every_page_renders_in_chromium(browser, tiny_checkpoints, tmp_path):
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    env = {"GENLAB_CHECKPOINTS": str(tiny_checkpoints), "GENLAB_RUNS": str(tmp_path / "runs"),
           "GENLAB_CACHE": str(tmp_path / "cache")}
    pages = [shots.Page(p.name, p.path, p.plot, query="n=100" if p.query else "", steps=min(p.steps, 100),
                        title=p.title) for p in shots.PAGES]
    # The fresh server's first visit is a deep link, not the home page: a user who follows a shared
    # /Mode_collapse?view=ab link must get the app's own sidebar too (see genlab.ui.setup_page).
    pages = pages[1:] + pages[:1]
    log = tmp_path / "streamlit.log"
    try:
        reports = shots.shoot_all(tmp_path / "shots", env, pages=pages, timeout=120, log_path=log,
                                 browser=browser)
    except Exception as e:  # a timeout or a dead server: show what the server said
        pytest.fail(f"{type(e).__name__}: {e}\n--- streamlit log ---\n{shots.tail(log)}", pytrace=False)

    for r in reports:  # shown with -s, or on a failure
        print(f"{r['page']:<18} {r['seconds']:>5.1f} s  {r['url']}")
    assert [r["page"] for r in reports] == [p.name for p in pages]
    for r in reports:
        assert r["problems"] == [], f"{r['url']}: {r['problems']}"
        assert r["title"] == next(p.title for p in pages if p.name == r["page"])
        # app.py's router names every page in the sidebar, the home page as "Home" (not the file's name)
        assert r["nav"] == ["Home", *(p.title for p in ui.PAGES)], r["nav"]
        png = Path(r["png"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < png.stat().st_size < shots.MAX_PNG_BYTES
    from PIL import Image

    assert Image.open(tmp_path / "shots" / "home.png").size == shots.WINDOW
