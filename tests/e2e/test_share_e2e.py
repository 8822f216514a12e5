"""Share links in Chromium, desktop and phone (issue 20): make a job, Share the selected image, open the
link in a fresh browser (a stranger: no cookies, no storage), see the image; Revoke, and the stranger sees
the one sentence. And Gradio's own run history keeps nothing in the owner's browser.

Screenshots of the share page land in docs/screenshots/ (or E2E_SCREENSHOT_DIR) as ``18-share-*.png``
(the page at both sizes, and the owner's share panel on the phone).
"""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 60_000  # ms for a demo job (speed 25: normally 1-2 s)
DESKTOP = {"width": 1360, "height": 1000}
PHONE = {"width": 390, "height": 844}
LINK = "#share-link textarea, #share-link input"

IMAGES_LOADED = """() => {
    const imgs = [...document.querySelectorAll('figure img')];
    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""
WIDER_THAN_VIEWPORT = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
OTHER_APP_RUNS = "gradio:run-history:v2:another-app"  # proves the planting ran: it stays
RUN_HISTORY_KEYS = "() => Object.keys(window.localStorage).filter(k => k.startsWith('gradio:run-history:'))"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("share")
    process = AppProcess(folder / "cache", folder / "app.log")
    process.start()
    yield process
    process.stop()
    print(process.log_tail(20))


def _owner_page(browser, app, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    # A run this app would have saved with run_history=True (its key names the app's id): the page must
    # delete it, not keep it.
    app_id = requests.get(app.url + "/config", timeout=10).json()["app_id"]
    # (the id is a 64-bit number: the page names it as JavaScript reads it, rounded to a double)
    page.add_init_script(f"window.localStorage.setItem('gradio:run-history:v2:' + String(JSON.parse('[{app_id}]')[0]), "
                         "JSON.stringify([{id: 'x', inputs: ['a planted prompt']}])); "
                         f"window.localStorage.setItem('{OTHER_APP_RUNS}', '[]')")  # another app's: left alone
    page.goto(app.url)
    page.locator("#prompt textarea").wait_for()
    return page


def _generate_and_select_second(page, prompt: str) -> None:
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#generate").click()
    page.wait_for_function("() => /done|failed/.test(document.querySelector('#status').innerText)", timeout=JOB_TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('#gallery .thumbnail-item img').length >= 2",
                           timeout=JOB_TIMEOUT)
    page.locator("#gallery .thumbnail-item").nth(1).click()
    page.keyboard.press("Escape")  # close the gallery's preview the click opened
    page.wait_for_function("() => document.querySelector('#selection').innerText.includes('#2')")
    page.wait_for_function("() => !document.querySelector('#share').disabled")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_share_open_as_a_stranger_then_revoke(browser, app, screenshots, size):
    viewport = DESKTOP if size == "desktop" else PHONE
    prompt = f"A shared paper boat on a pond ({size})"
    page = _owner_page(browser, app, viewport)
    _generate_and_select_second(page, prompt)
    include = size == "desktop"  # the phone shares without its prompt
    if include:
        page.locator("#share-include-prompt input[type=checkbox]").check()
    page.locator("#share").click()
    page.locator(LINK).first.wait_for(state="visible")
    page.wait_for_function("(sel) => /^http:\\/\\/.+\\/share\\/[A-Za-z0-9_-]{24}$/.test(document.querySelector(sel).value)",
                           arg=LINK)
    link = page.locator(LINK).first.input_value()
    assert link.startswith(app.url + "/share/")
    assert page.locator("#share").is_disabled() and page.locator("#share-revoke").is_visible()
    if size == "phone":
        page.locator("#share-panel").first.scroll_into_view_if_needed()
        page.locator("#share-panel").first.screenshot(path=str(screenshots / "18-share-panel-phone.png"))
    # Gradio's run history recorded none of this page's calls, and dropped the run planted for this app
    assert page.evaluate(RUN_HISTORY_KEYS) == [OTHER_APP_RUNS]

    stranger_context = browser.new_context(viewport=viewport)  # a fresh browser: nothing of the owner's
    stranger = stranger_context.new_page()
    stranger.set_default_timeout(30_000)
    answer = stranger.goto(link)
    assert answer.status == 200
    stranger.wait_for_function(IMAGES_LOADED)
    assert stranger.locator("figure img").count() == 1
    assert stranger.evaluate("() => document.querySelector('figure img').naturalWidth") >= 256
    text = stranger.locator("main").inner_text()
    assert "Generated from a text prompt" in text and "Made with Akool Image Studio" in text
    assert (prompt in text) is include
    assert not stranger.evaluate(WIDER_THAN_VIEWPORT)  # fits a phone's width
    box = stranger.locator("figure img").bounding_box()
    assert box["width"] <= viewport["width"]
    stranger.screenshot(path=str(screenshots / f"18-share-{size}.png"), full_page=True)

    # the owner selects the image again later: its link is still there
    page.locator("#gallery .thumbnail-item").nth(0).click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#share').disabled")  # another image: no link yet
    page.locator("#gallery .thumbnail-item").nth(1).click()
    page.keyboard.press("Escape")
    page.wait_for_function("(a) => document.querySelector(a.sel) && document.querySelector(a.sel).value === a.link",
                           arg={"sel": LINK, "link": link})

    page.locator("#share-revoke").click()
    page.locator("#share-link").wait_for(state="hidden")
    page.wait_for_function("() => !document.querySelector('#share').disabled")
    answer = stranger.goto(link)
    assert answer.status == 404
    sentence = stranger.locator("#share-refusal").inner_text()
    assert sentence.startswith("There is no shared image at this link") and sentence.count(".") == 1
    assert stranger.locator("img").count() == 0
    stranger_context.close()
    page.context.close()
