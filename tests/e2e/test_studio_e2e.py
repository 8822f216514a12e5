"""The studio in a real Chromium against ``python app.py`` in demo mode (see conftest.py for the harness).

Screenshots land in docs/screenshots/ for the README.
"""

from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from PIL import Image

from akool_ui.ui.assets import EXAMPLE_SOURCE

pytestmark = pytest.mark.e2e

PROMPT = "A lighthouse on a cliff at dawn, watercolour"
JOB_TIMEOUT = 60.0  # seconds for a demo job (speed 25: normally 1-2 s)
_SIZE = re.compile(r"(\d+)×(\d+)")

ALL_IMAGES_LOADED = """(selector) => {
    const imgs = [...document.querySelectorAll(selector)];
    return imgs.length > 0 && imgs.every(img => img.complete && img.naturalWidth > 0);
}"""


def _thumbs(page, elem_id: str):
    return page.locator(f"#{elem_id} .thumbnail-item")


def _wait_images(page, elem_id: str, at_least: int) -> int:
    """Wait until the component shows at least ``at_least`` thumbnails, all decoded; return the count."""
    page.wait_for_function(
        f"() => document.querySelectorAll('#{elem_id} .thumbnail-item img').length >= {at_least}",
        timeout=JOB_TIMEOUT * 1000,
    )
    page.wait_for_function(ALL_IMAGES_LOADED, arg=f"#{elem_id} .thumbnail-item img", timeout=JOB_TIMEOUT * 1000)
    return _thumbs(page, elem_id).count()


def _watch_status(page, until, timeout: float = JOB_TIMEOUT) -> list[str]:
    """Every distinct text of #status until ``until(text)`` holds."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = page.locator("#status").inner_text()
        if not seen or seen[-1] != text:
            seen.append(text)
        if until(text):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"status never reached the goal; saw {seen}")


def _toast_text(page) -> str:
    toast = page.locator("[data-testid='toast-text']").last
    toast.wait_for(timeout=15_000)
    return toast.inner_text().strip()


def _set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_generate_upscale_reload_restart(app_process, page, screenshots):
    page.goto(app_process.url)
    page.locator("#prompt textarea").wait_for()
    assert "offline demo" in page.locator("#mode-banner").inner_text().lower()
    # the design's element ids are all on the page (Gradio mounts components one by one, each once its
    # code has loaded: the prompt being there does not mean the rest is, so wait for each before counting)
    for elem_id in ("prompt", "negative-prompt", "source-image", "source-url", "scale", "resolution", "batch",
                    "similar", "generate", "status", "gallery", "history", "api-key", "mode-banner",
                    *[f"btn-{b}" for b in ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4")]):
        page.locator(f"#{elem_id}").first.wait_for(state="attached")
        assert page.locator(f"#{elem_id}").count() == 1, elem_id
    assert page.locator("#btn-U1").is_disabled()  # nothing selected yet

    # --- generate a batch of two, watching the live status ---------------------------------------------
    page.locator("#prompt textarea").fill(PROMPT)
    _set_number(page, "batch", 2)
    page.locator("#generate").click()
    seen = _watch_status(page, lambda t: t.count("done") >= 2)
    lines = [t for t in seen if "Image 1" in t and "Image 2" in t]
    assert lines, seen  # one line per image
    assert any(word in t for t in lines for word in ("queued", "processing", "saving")), seen
    assert re.search(r"Image 1: done · \d+ s", seen[-1]) and re.search(r"Image 2: done · \d+ s", seen[-1])
    count = _wait_images(page, "gallery", 2)
    assert count >= 2
    captions = page.locator("#gallery .caption-label").all_inner_texts()
    assert any(c.startswith("Image 1") for c in captions) and any(c.startswith("Image 2") for c in captions)
    page.screenshot(path=str(screenshots / "01-generate.png"), full_page=True)

    # --- originals download: all as a zip (every image of both jobs), or the selected one --------------------
    page.wait_for_function("() => !document.querySelector('#download-all').disabled")
    with page.expect_download() as download:
        page.locator("#download-all").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        names = archive.namelist()
        assert len(names) == count, names
        with Image.open(io.BytesIO(archive.read(names[0]))) as first:
            assert min(first.size) >= 1080  # originals, not the web previews

    # --- select an image of the first job, press U1 -----------------------------------------------------
    _thumbs(page, "gallery").first.click()
    page.wait_for_function("() => !document.querySelector('#btn-U1').disabled")
    assert "Prompt:" in page.locator("#job-details").inner_text()
    with page.expect_download() as download:
        page.locator("#download-original").click()
    with Image.open(download.value.path()) as original:
        assert original.size == tuple(map(int, _SIZE.search(captions[0]).groups()))
    page.locator("#btn-U1").click()
    _watch_status(page, lambda t: bool(re.search(r"U1 of Image 1: done", t)))
    _wait_images(page, "gallery", count + 1)
    upscale = [c for c in page.locator("#gallery .caption-label").all_inner_texts() if c.startswith("U1 of Image 1")]
    assert len(upscale) == 1, upscale
    width, height = map(int, _SIZE.search(upscale[0]).groups())
    assert max(width, height) >= 3840, upscale  # a 4K result
    # the new result arrives selected; back on its parent, U1 shows as used
    page.wait_for_function("() => document.querySelector('#selection').innerText.includes('U1 of Image 1')")
    page.keyboard.press("Escape")
    _thumbs(page, "gallery").first.click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.querySelector('#btn-U1').innerText.includes('✓')")
    assert page.locator("#btn-U1").is_disabled()
    assert "used" in (page.locator("#btn-U1").get_attribute("class") or "")
    assert page.locator("#btn-U2").is_enabled()
    page.screenshot(path=str(screenshots / "02-upscale.png"), full_page=True)

    # --- reload: the history shows both jobs (and the upscale) ---------------------------------------------
    page.reload()
    assert _wait_images(page, "history", 3) == 3
    history = page.locator("#history .caption-label").all_inner_texts()
    assert sum(1 for c in history if c.startswith("A lighthouse on a cliff")) == 2, history
    assert sum(1 for c in history if c.startswith("U1 of")) == 1, history
    page.screenshot(path=str(screenshots / "03-history.png"), full_page=True)

    # --- restart the app on the same cache dir: history and images survive --------------------------------
    app_process.restart()
    page.reload()
    assert _wait_images(page, "history", 3) == 3
    assert page.locator("#history .caption-label").all_inner_texts() == history
    _thumbs(page, "history").nth(2).click()  # the oldest: the first generated job, with its U1 child
    _watch_status(page, lambda t: "done" in t)
    assert _wait_images(page, "gallery", 2) >= 2
    page.wait_for_function("() => document.querySelector('#btn-U1').innerText.includes('✓')")
    page.screenshot(path=str(screenshots / "04-after-restart.png"), full_page=True)


def test_image_to_image_from_an_upload(app_process, page, screenshots):
    page.goto(app_process.url)
    page.locator("#prompt textarea").wait_for()
    assert page.locator("#similar").is_hidden()  # shown only once a source is given
    page.locator("#scale input").click()  # "Original" (the source's ratio) is offered only with a source
    page.get_by_role("option", name="16:9").wait_for()
    assert page.get_by_role("option", name="Original").count() == 0
    page.keyboard.press("Escape")
    page.locator("#source-image input[type=file]").set_input_files(str(EXAMPLE_SOURCE))
    page.locator("#similar").wait_for(state="visible")
    page.locator("#prompt textarea").fill("The same valley as a watercolour")
    page.locator("#scale input").click()
    page.get_by_role("option", name="Original").click()
    page.locator("#generate").click()
    _watch_status(page, lambda t: "done" in t or "failed" in t)
    assert "done" in page.locator("#status").inner_text()
    _wait_images(page, "gallery", 1)
    assert "Image-to-image" in page.locator("#job-details").inner_text()
    # "Original" keeps the source's ratio: the simulator could only know it by fetching our upload URL
    with Image.open(EXAMPLE_SOURCE) as source:
        ratio = source.width / source.height
    caption = page.locator("#gallery .caption-label").first.inner_text()
    width, height = map(int, _SIZE.search(caption).groups())
    assert abs(width / height - ratio) < 0.02, caption
    uploads = list((app_process.cache_dir / "uploads").iterdir())
    assert len(uploads) == 1 and len(uploads[0].stem) == 43  # stored under a 256-bit token
    page.screenshot(path=str(screenshots / "05-image-to-image.png"), full_page=True)


def test_bad_uploads_are_refused_with_a_sentence_at_once(app_process, page, tmp_path):
    """A text file named .png, an empty file and a tiny PNG claiming 12000x12000 pixels: each is refused
    with its own sentence as soon as it is uploaded, and the server keeps answering."""
    from tests.test_security_uploads import header_bomb_png

    cases = {
        "not-an-image.png": (b"hello, I am text\n", "not a PNG, JPEG or WebP"),
        "empty.png": (b"", "empty"),
        "bomb.png": (header_bomb_png(), "12000×12000 pixels"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        page.goto(app_process.url)  # a fresh, empty source box each time
        page.locator("#prompt textarea").wait_for()
        page.locator("#source-image input[type=file]").set_input_files(str(path))
        page.wait_for_function(
            "(text) => [...document.querySelectorAll('[data-testid=toast-text]')].some(t => t.innerText.includes(text))",
            arg=expected,
        )
        texts = page.locator("[data-testid='toast-text']").all_inner_texts()
        assert all(t.strip() != "Error" for t in texts), texts
    page.goto(app_process.url)
    page.locator("#prompt textarea").wait_for()
    page.locator("#prompt textarea").fill("Still here")
    page.locator("#generate").click()
    _watch_status(page, lambda t: "done" in t or "failed" in t)


def test_errors_are_one_sentence_and_the_form_keeps_its_values(app_process, page, screenshots):
    page.goto(app_process.url)
    page.locator("#prompt textarea").wait_for()
    negative = page.locator("#negative-prompt textarea, #negative-prompt input").first
    negative.fill("blurry, text")
    page.locator("#generate").click()  # no prompt
    assert _toast_text(page) == "Please write a prompt describing the image."
    assert negative.input_value() == "blurry, text"
    page.wait_for_function(  # the toast slides in; photograph it when it has arrived
        "() => getComputedStyle(document.querySelector('[data-testid=toast-body]')).opacity === '1'"
    )
    page.screenshot(path=str(screenshots / "06-error.png"))

    url_box = page.locator("#source-url textarea, #source-url input").first
    url_box.fill("ftp://example.com/cat.png")
    page.locator("#prompt textarea").fill("A cat")
    page.locator("#generate").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=toast-text]')].some(t => t.innerText.includes('web address'))"
    )
    assert page.locator("#prompt textarea").input_value() == "A cat"
    assert url_box.input_value() == "ftp://example.com/cat.png"
    assert page.locator("#gallery .thumbnail-item").count() == 0


def test_history_search_reopen_reuse_use_as_source_and_delete(app_process, page, screenshots):
    page.goto(app_process.url)
    page.locator("#prompt textarea").wait_for()
    for prompt in ("A red bicycle in Amsterdam", "A blue whale under ice"):
        page.locator("#prompt textarea").fill(prompt)
        page.locator("#generate").click()
        _watch_status(page, lambda t: "done" in t)
    assert _wait_images(page, "history", 2) == 2

    # search by prompt (case-insensitive), then reopen the match
    page.locator("#history-search textarea, #history-search input").first.fill("WHALE")
    page.locator("#history-search textarea, #history-search input").first.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#history .thumbnail-item').length === 1")
    assert page.locator("#history .caption-label").inner_text().startswith("A blue whale")
    page.locator("#prompt textarea").fill("something else")
    _thumbs(page, "history").first.click()
    page.wait_for_function("() => document.querySelector('#job-details').innerText.includes('A blue whale')")

    # reuse settings fills the form from the job
    page.locator("#reuse-settings").click()
    page.wait_for_function("() => document.querySelector('#prompt textarea').value === 'A blue whale under ice'")

    # use as source: the selected result becomes the image-to-image source
    _thumbs(page, "gallery").first.click()
    page.locator("#use-as-source").click()
    page.wait_for_function(ALL_IMAGES_LOADED, arg="#source-image img")
    assert page.locator("#similar").is_visible()

    # delete takes it out of the history at once; its files wait for the undo period; Undo brings it back
    job_dir_count = len(list((app_process.cache_dir / "images").glob("*/*")))
    page.locator("#delete-job").click()
    page.wait_for_function("() => document.querySelector('#delete-job').disabled")  # nothing left selected
    page.locator("#undo-delete").wait_for(state="visible")
    page.locator("#history-search textarea, #history-search input").first.fill("")
    page.locator("#history-search textarea, #history-search input").first.press("Enter")
    only_bicycle = """() => {
            const captions = [...document.querySelectorAll('#history .caption-label')].map(c => c.innerText);
            return captions.length === 1 && captions[0].startsWith('A red bicycle');
        }"""
    page.wait_for_function(only_bicycle)
    assert len(list((app_process.cache_dir / "images").glob("*/*"))) == job_dir_count  # nothing removed yet
    page.screenshot(path=str(screenshots / "13-undo-delete.png"))
    page.locator("#undo-delete").click()
    page.wait_for_function("() => document.querySelector('#job-details').innerText.includes('A blue whale')")
    page.wait_for_function("() => document.querySelectorAll('#history .thumbnail-item').length === 2")
    assert page.locator("#undo-delete").is_hidden()
    page.locator("#delete-job").click()
    page.wait_for_function(only_bicycle)


def test_api_key_stays_in_this_browser_and_switches_the_history(app_process, page, browser):
    key = "MyOwnAkoolKey0123456789"
    page.goto(app_process.url)
    page.locator("#prompt textarea").fill("A quiet harbour")
    page.locator("#generate").click()
    _watch_status(page, lambda t: "done" in t)
    assert _wait_images(page, "history", 1) == 1

    key_box = page.locator("#api-key input")
    remember = page.locator("#remember-key input[type=checkbox]")
    assert key_box.get_attribute("type") == "password"
    assert "anyone using this browser could read it" in page.locator("#api-key").inner_text()
    # by default the key lives for this visit only
    assert not remember.is_checked()
    key_box.fill(key)
    key_box.press("Enter")  # another owner: this key has no jobs here
    page.wait_for_function("() => document.querySelectorAll('#history .thumbnail-item').length === 0")
    page.reload()
    page.locator("#prompt textarea").wait_for()
    assert _wait_images(page, "history", 1) == 1  # the browser's own history again: the key is gone
    assert key_box.input_value() == "" and not remember.is_checked()
    # "remember" is an explicit choice, and survives a reload
    key_box.fill(key)
    key_box.press("Enter")
    remember.check()
    page.wait_for_function("() => document.querySelectorAll('#history .thumbnail-item').length === 0")
    page.reload()
    page.wait_for_function(f"() => document.querySelector('#api-key input')?.value === {key!r}")
    assert remember.is_checked()
    page.wait_for_function("() => (document.querySelector('#history-pager')?.innerText || '').includes('No jobs for your key yet')")
    # the key is in this browser's localStorage only, and encrypted there
    stored = page.evaluate("() => JSON.stringify(Object.entries(window.localStorage))")
    assert "akool-studio-api-key" in stored and key not in stored
    # another browser (a new context) neither sees the key nor this browser's jobs
    other = browser.new_context().new_page()
    other.goto(app_process.url)
    other.locator("#prompt textarea").wait_for()
    other.wait_for_function("() => (document.querySelector('#history-pager')?.innerText || '').includes('No jobs yet')")
    assert other.locator("#api-key input").input_value() == ""
    other.context.close()

    page.locator("#forget-key").click()
    page.wait_for_function("() => document.querySelector('#api-key input')?.value === ''")
    assert not remember.is_checked()
    assert _wait_images(page, "history", 1) == 1  # back to this browser's own demo history
    page.reload()
    page.locator("#prompt textarea").wait_for()
    assert _wait_images(page, "history", 1) == 1
    assert page.locator("#api-key input").input_value() == ""
    log = app_process.log_path.read_text(errors="replace")
    assert key not in log


def test_stop_a_running_job_then_check_again_and_the_model_is_kept(slow_app_process, page):
    """Stop ends the watching (Akool has no cancel): the job is kept as stopped, nothing updates it, and
    Check again picks it up and finishes it. The model chosen on the form shows in the job and comes back
    with Reuse settings."""
    model = "wavespeed-ai/flux-krea-dev-lora"
    page.goto(slow_app_process.url)
    page.locator("#prompt textarea").fill("A slow lighthouse")
    page.locator("#model input").click()
    page.get_by_role("option", name=model).click()
    page.locator("#generate").click()
    _watch_status(page, lambda t: "queued" in t or "processing" in t)
    page.locator("#stop").wait_for(state="visible")
    page.locator("#stop").click()
    _watch_status(page, lambda t: "stopped" in t)
    page.locator("#check-again").wait_for(state="visible")
    assert page.locator("#stop").is_hidden()
    stopped_text = page.locator("#status").inner_text()
    time.sleep(2)  # a stream still running would tick the elapsed seconds
    assert page.locator("#status").inner_text() == stopped_text
    assert "Model: " + model in page.locator("#job-details").inner_text()
    page.locator("#check-again").click()
    _watch_status(page, lambda t: "done" in t, timeout=90)
    _wait_images(page, "gallery", 1)
    page.locator("#prompt textarea").fill("")
    page.locator("#reuse-settings").click()
    page.wait_for_function("() => document.querySelector('#prompt textarea').value === 'A slow lighthouse'")
    assert page.locator("#model input").input_value() == model


@pytest.fixture()
def limited_app_process(tmp_path):
    """A shared demo (as on a public link) that lets a visitor make one image an hour."""
    from tests.e2e.conftest import AppProcess

    app = AppProcess(tmp_path / "cache", tmp_path / "app.log",
                     env={"AKOOL_SHARED": "1", "AKOOL_LIMIT_IMAGES_PER_HOUR": "1"})
    app.start()
    yield app
    app.stop()
    print(app.log_tail(20))


def test_a_shared_app_refuses_past_the_hourly_limit_and_keeps_the_form(limited_app_process, page):
    page.goto(limited_app_process.url)
    prompt = page.locator("#prompt textarea")
    prompt.fill(PROMPT)
    page.locator("#generate").click()
    _watch_status(page, lambda t: "done" in t)
    shown = _wait_images(page, "gallery", 1)
    assert "This session: 3 credits" in page.locator("#job-details").inner_text()  # a 1080p job: 3
    prompt.fill("A second lighthouse, at night")
    page.locator("#generate").click()
    toast = _toast_text(page)
    assert re.fullmatch(
        r"You have made 1 image in the last hour on this app's account; you can make more at \d\d:\d\d UTC"
        r"( tomorrow)?, or enter your own Akool API key\.", toast,
    ), toast
    assert prompt.input_value() == "A second lighthouse, at night"
    assert _thumbs(page, "gallery").count() == shown  # nothing new was made
