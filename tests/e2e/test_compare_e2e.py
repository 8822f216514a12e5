"""Compare in Chromium, desktop and phone (issue 20): generate, add two candidates to the compare tray, open
the compare view, see both side by side at equal sizes, zoom them together (and pan them together), switch
to the slider and zoom it; then a U1 upscale beside its parent: different pixel sizes shown at one size.

Screenshots of the compare view land in docs/screenshots/ (or E2E_SCREENSHOT_DIR) as ``19-compare-*.png``.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 60_000  # ms for a demo job (speed 25: normally 1-2 s)
VIEWPORTS = {"desktop": {"width": 1360, "height": 1000}, "phone": {"width": 390, "height": 844}}
GRID_IMGS = "#compare-grid .compare-scroll img"
LOADED = """(sel) => {
    const imgs = [...document.querySelectorAll(sel)];
    return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""
BOXES = "(sel) => [...document.querySelectorAll(sel)].map(i => { const r = i.getBoundingClientRect(); return [r.width, r.height]; })"
WIDTHS_ARE = "(a) => [...document.querySelectorAll(a.sel)].every(i => Math.abs(i.getBoundingClientRect().width - a.w) < 1)"
SLIDER_SCALES = "() => [...document.querySelectorAll('#compare-slider img')].map(i => i.style.scale)"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    process = AppProcess(folder / "cache", folder / "app.log")
    process.start()
    yield process
    process.stop()
    print(process.log_tail(20))


def _select(page, nth: int, expect: str) -> None:
    page.locator("#gallery .thumbnail-item").nth(nth).click()
    page.keyboard.press("Escape")  # close the gallery's preview the click opened
    page.wait_for_function("(t) => document.querySelector('#selection').innerText.includes(t)", arg=expect)


def _add(page, expected_in_tray: int) -> None:
    page.locator("#add-to-compare").click()
    page.wait_for_function("(n) => document.querySelectorAll('#compare-tray .thumbnail-item').length === n",
                           arg=expected_in_tray)


def _open_compare(page, last_caption: str) -> list[list[float]]:
    """Press Compare; wait until the grid shows the new images (the last one's caption holds ``last_caption``)."""
    page.locator("#compare-open").click()
    page.locator("#compare-view").wait_for(state="visible")
    page.wait_for_function("(t) => { const c = [...document.querySelectorAll('#compare-grid figcaption')]; "
                           "return c.length >= 2 && c[c.length - 1].innerText.includes(t); }", arg=last_caption)
    page.wait_for_function(LOADED, arg=GRID_IMGS, timeout=JOB_TIMEOUT)
    return page.evaluate(BOXES, GRID_IMGS)


def _zoom(page, label: str) -> None:
    page.locator("#compare-zoom label", has_text=label).click()


def _same(boxes: list[list[float]]) -> bool:
    return all(abs(b[0] - boxes[0][0]) < 1 and abs(b[1] - boxes[0][1]) < 1 for b in boxes)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_compare_two_candidates_then_an_upscale_beside_its_parent(open_studio, app, screenshots, size):
    viewport = VIEWPORTS[size]
    page = open_studio(app.url, viewport)
    page.locator("#prompt textarea").fill(f"A red kite over the dunes ({size})")
    page.locator("#generate").click()
    # four stored candidates (a tile still coming has no pixel size in its caption)
    page.wait_for_function("() => [...document.querySelectorAll('#gallery .caption-label')]"
                           ".filter(c => c.innerText.includes('1080×1080')).length >= 4", timeout=JOB_TIMEOUT)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('done')", timeout=JOB_TIMEOUT)
    assert page.locator("#compare-open").is_disabled()

    # --- two candidates into the tray, side by side at the same size --------------------------------------
    _select(page, 0, "#1")
    _add(page, 1)
    assert page.locator("#compare-open").is_disabled()  # one image: nothing to compare yet
    _select(page, 1, "#2")
    _add(page, 2)
    page.locator("#add-to-compare").click()  # the same image again: refused, the tray unchanged
    page.locator("[data-testid='toast-text']", has_text="already in the compare tray").first.wait_for()
    page.evaluate("() => document.querySelectorAll('.toast-close').forEach((b) => b.click())")  # read: close it
    page.locator("[data-testid='toast-text']").first.wait_for(state="detached")
    assert page.locator("#compare-tray .thumbnail-item").count() == 2
    assert page.locator("#compare-remove-2").is_visible() and not page.locator("#compare-remove-3").is_visible()
    boxes = _open_compare(page, "#2 · 1080p")
    assert len(boxes) == 2 and _same(boxes) and boxes[0][0] > 100, boxes
    captions = page.locator("#compare-grid figcaption").all_inner_texts()
    assert captions[0].endswith("#1 · 1080p · 1080×1080") and captions[1].endswith("#2 · 1080p · 1080×1080")
    if size == "phone":  # side by side, within the phone's width
        assert boxes[0][0] * 2 <= viewport["width"]
        assert not page.evaluate("() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1")

    # --- one zoom for both panes, and panning one pans the other ------------------------------------------
    _zoom(page, "200 %")
    page.wait_for_function(WIDTHS_ARE, arg={"sel": GRID_IMGS, "w": 2160})  # 2 × the originals' 1080 px
    panes = page.locator("#compare-grid .compare-scroll")
    panes.nth(0).evaluate("(el) => { el.scrollLeft = 400; el.scrollTop = 300; }")
    page.wait_for_function("() => { const p = document.querySelectorAll('#compare-grid .compare-scroll'); "
                           "return Math.abs(p[1].scrollLeft - p[0].scrollLeft) < 2 && p[1].scrollLeft > 0 "
                           "&& Math.abs(p[1].scrollTop - p[0].scrollTop) < 2; }")
    _zoom(page, "Fit")
    page.wait_for_function(WIDTHS_ARE, arg={"sel": GRID_IMGS, "w": boxes[0][0]})  # back to the pane's width

    # --- the slider: exactly the two, zoomed together --------------------------------------------------------
    page.locator("#compare-mode label", has_text="Slider").click()
    page.locator("#compare-slider").wait_for(state="visible")
    page.wait_for_function(LOADED, arg="#compare-slider img", timeout=JOB_TIMEOUT)
    assert page.locator("#compare-slider img").count() == 2
    assert not page.locator("#compare-grid .compare-scroll").first.is_visible()
    _zoom(page, "100 %")
    page.wait_for_function(f"() => {{ const s = ({SLIDER_SCALES})(); return s.length === 2 && s[0] !== '' && s[0] === s[1]; }}")
    scale = float(page.evaluate(SLIDER_SCALES)[0])
    fit_width = page.evaluate("() => document.querySelector('#compare-slider img').offsetWidth")
    assert abs(scale * fit_width - 1080) < 2  # 100 %: the original's pixels 1:1
    _zoom(page, "Fit")
    page.wait_for_function(f"() => ({SLIDER_SCALES})().every(s => s === '')")
    page.locator("#compare-mode label", has_text="Side by side").click()
    page.wait_for_function(LOADED, arg=GRID_IMGS, timeout=JOB_TIMEOUT)

    # --- a U1 upscale beside its parent: 1080 and 4K shown at one size, and the note says which is scaled ---
    _select(page, 0, "#1")
    page.wait_for_function("() => !document.querySelector('#btn-U1').disabled")
    page.locator("#btn-U1").click()
    page.wait_for_function("() => document.querySelector('#selection').innerText.includes('U1 of')", timeout=JOB_TIMEOUT)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('U1 of Image: done')",
                           timeout=JOB_TIMEOUT)
    page.locator("#compare-remove-2").click()  # candidate #2 out: #1 and its upscale stay
    page.wait_for_function("() => document.querySelectorAll('#compare-tray .thumbnail-item').length === 1")
    _add(page, 2)
    boxes = _open_compare(page, "U1 of")
    assert _same(boxes), boxes
    natural = page.evaluate("(sel) => [...document.querySelectorAll(sel)].map(i => i.naturalWidth)", GRID_IMGS)
    assert natural[0] == 1080 and natural[1] >= 3840, natural  # the stored originals, of different sizes
    note = page.locator("#compare-note").inner_text()
    assert f"1080×1080 is scaled ×{natural[1] / 1080:.3g} to match" in note, note
    captions = page.locator("#compare-grid figcaption").all_inner_texts()
    assert "(scaled ×" in captions[0] and captions[1].startswith("U1 of") and "4K upscale" in captions[1], captions
    page.locator("#compare-view").scroll_into_view_if_needed()
    page.locator("#compare-view").screenshot(path=str(screenshots / f"19-compare-{size}.png"))
    _zoom(page, "100 %")  # the 4K 1:1, the 1080p enlarged to match: still the same size
    page.wait_for_function(WIDTHS_ARE, arg={"sel": GRID_IMGS, "w": natural[1]})

    page.locator("#compare-close").click()
    page.locator("#compare-view").wait_for(state="hidden")
