"""Drawing your points on the Mode-collapse page, in a real headless Chromium: a mouse click on the
canvas puts a cluster there, and the box tool dragged over the canvas fills that box with one.

AppTest cannot click a Plotly chart, so this is where st.plotly_chart(on_select=...) is shown to
work as the page uses it (Streamlit selects a clicked point only while no box or lasso tool is on,
which is why the canvas sets no dragmode). Needs Debian's Chromium and its driver, as
tests/test_browser.py does (the test fails, not skips, without them).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from test_browser import browser, shots  # noqa: F401

TITLE = "draw: click a point, or drag a box"


def _canvas(driver):
    from selenium.webdriver.common.by import By

    return next((el for el in driver.find_elements(By.CSS_SELECTOR, shots.PLOT) if TITLE in el.text), None)


def _wait_canvas(driver, timeout: float = 120):
    """The canvas once Plotly has drawn it: seconds after the script finished, on a loaded machine (the
    first chart of a session loads plotly.js), so a fixed pause was not enough."""
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(_canvas)
    except Exception:  # noqa: BLE001 - the assertion below names what is missing, with the server's log
        return None


def _pixel(driver, el, x: float, y: float) -> tuple[int, int]:
    """Offset from the chart's centre (what Selenium's move_to_element_with_offset takes) of data point (x, y)."""
    px, py, w, h = driver.execute_script(
        "const gd = arguments[0], L = gd._fullLayout, r = gd.getBoundingClientRect();"
        "return [L.xaxis._offset + L.xaxis.l2p(arguments[1]), L.yaxis._offset + L.yaxis.l2p(arguments[2]),"
        " r.width, r.height];", el, x, y)
    return int(round(px - w / 2)), int(round(py - h / 2))


def _clusters(driver, timeout: float = 120) -> list[list[float]]:
    time.sleep(1.5)  # the selection's rerun starts after Plotly's event
    shots.wait_done(driver, timeout)
    raw = parse_qs(urlparse(driver.current_url).query).get("clusters", [""])[0]
    return [[float(v) for v in c.split(",")] for c in raw.split(";") if c]


@pytest.mark.browser
def test_a_click_and_a_box_on_the_canvas_add_clusters(browser, tmp_path):  # noqa: F811
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    (tmp_path / "checkpoints").mkdir()
    env = {"GENLAB_CHECKPOINTS": str(tmp_path / "checkpoints"), "GENLAB_RUNS": str(tmp_path / "runs"),
           "GENLAB_CACHE": str(tmp_path / "cache")}
    log = tmp_path / "streamlit.log"
    with shots.serve(env=env, log_path=log) as base:
        driver = shots.make_driver(*browser)
        try:
            driver.get(base + "/Mode_collapse?dataset=draw")
            shots.wait_done(driver, 180)
            el = _wait_canvas(driver)
            assert el is not None, shots.tail(log)
            ActionChains(driver).move_to_element_with_offset(el, *_pixel(driver, el, 2.0, -1.0)).click().perform()
            assert _clusters(driver) == [[2.0, -1.0, 0.2, 200.0]]  # the spread and count of the form

            el = _canvas(driver)
            ActionChains(driver).move_to_element(el).perform()
            time.sleep(0.5)
            el.find_element(By.CSS_SELECTOR, '[data-title="Box Select"]').click()
            (x0, y0), (x1, y1) = _pixel(driver, el, -4.0, 3.0), _pixel(driver, el, -2.0, 5.0)
            ActionChains(driver).move_to_element_with_offset(el, x0, y0).click_and_hold() \
                .move_by_offset((x1 - x0) // 2, (y1 - y0) // 2).move_by_offset(x1 - x0 - (x1 - x0) // 2,
                                                                               y1 - y0 - (y1 - y0) // 2) \
                .release().perform()
            found = _clusters(driver)
            assert len(found) == 2 and found[0] == [2.0, -1.0, 0.2, 200.0]
            x, y, spread, n = found[1]
            assert abs(x + 3) < 0.1 and abs(y - 4) < 0.1 and abs(spread - 0.5) < 0.05 and n == 200  # ±2 spreads fill it
            assert not driver.find_elements(By.CSS_SELECTOR, shots.EXCEPTION)
            assert not driver.find_elements(By.CSS_SELECTOR, shots.ERROR_BOX)
        finally:
            driver.quit()
