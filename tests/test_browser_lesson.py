"""A whole lesson walked in a real headless Chromium, as a class would: the mode-collapse lesson's link
opens step 1 on the Mode collapse page with the shipped checkpoints, "Next ▶" moves through all six
steps (each one the page with the step's settings in the URL, its figure measured on arrival and
found inside the lesson's range), and "◀ Back" returns.

AppTest runs a page on its own, without app.py's router, so st.switch_page between pages with query
parameters is only exercised here. Needs Debian's Chromium and its driver, as tests/test_browser.py
does (the test fails, not skips, without them).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from test_browser import browser, shots  # noqa: F401

from genlab.lessons import load_lesson, step_query

ROOT = Path(__file__).resolve().parents[1]
LESSON = load_lesson(ROOT / "lessons" / "mode-collapse.toml")


def _query(driver) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _panel_text(driver) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, ".st-key-lesson_panel")
    return found[0].text if found else ""


def _wait_for_step(driver, i: int, timeout: float) -> None:
    """Until the URL names step i and the page has finished running with it."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: _query(d).get("lesson_step") == str(i))
    time.sleep(1.0)  # the page's rerun starts after the URL changes
    shots.wait_done(driver, timeout)
    WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: f"step {i} of" in _panel_text(d))


def _press(driver, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f".st-key-{key} button").click()


@pytest.mark.browser
def test_a_class_walks_the_mode_collapse_lesson_with_next_and_back(browser, tmp_path):  # noqa: F811
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    from selenium.webdriver.support.ui import WebDriverWait

    n = len(LESSON.steps)
    assert n == 6 and {s.page for s in LESSON.steps} == {"Mode_collapse"}
    env = {"GENLAB_CHECKPOINTS": str(ROOT / "checkpoints"), "GENLAB_RUNS": str(tmp_path / "runs"),
           "GENLAB_CACHE": str(tmp_path / "cache")}
    log = tmp_path / "streamlit.log"
    with shots.serve(env=env, log_path=log) as base:
        driver = shots.make_driver(*browser)
        try:
            driver.get(base + "/Mode_collapse?" + urlencode(step_query(LESSON, 1)))
            seen = []
            for i in range(1, n + 1):
                _wait_for_step(driver, i, 180)
                step, query = LESSON.steps[i - 1], _query(driver)
                # the step's settings are the page's state, as its link gives them (the page keeps a value
                # that is its default out of the URL: step 4's label_data=digits)
                assert all(query.get(k, v) == v for k, v in step.settings.items()), (i, query, step.settings)
                assert query.get("view") == step.settings["view"]
                assert urlparse(driver.current_url).path.endswith("/Mode_collapse")
                assert step.question[:30] in _panel_text(driver), (i, _panel_text(driver))
                if step.check and "steps" not in step.check.args:  # measured on arrival; the slow ones train
                    WebDriverWait(driver, 180, poll_frequency=0.5).until(
                        lambda d: "Within the expected" in _panel_text(d) or "Outside the expected" in _panel_text(d))
                    assert "Within the expected" in _panel_text(driver), (i, _panel_text(driver))
                assert not shots.problems(driver), (i, shots.problems(driver), shots.tail(log))
                seen.append(i)
                if i < n:
                    _press(driver, "_lesson_next")
            assert seen == list(range(1, n + 1))
            _press(driver, "_lesson_back")
            _wait_for_step(driver, n - 1, 180)
            assert _query(driver).get("view") == LESSON.steps[n - 2].settings["view"]
        finally:
            driver.quit()
