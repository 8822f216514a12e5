"""Boards, the history's views and filters, and "Select" mode's bulk actions (issue 20), in Chromium at
desktop and phone size: make jobs, make a board, generate into it, show it, pick two jobs to add, zip,
delete with undo. The README's boards screenshots are ``19-boards-*.png``."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 60_000
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("boards")
    process = AppProcess(folder / "cache", folder / "app.log")
    process.start()
    yield process
    process.stop()
    print(process.log_tail(20))


def _generate(page, prompt: str) -> None:
    page.locator("#status").evaluate("el => el.dataset.before = el.innerText")
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#generate").click()
    page.wait_for_function(
        "(p) => /done|failed/.test(document.querySelector('#status').innerText) && "
        "[...document.querySelectorAll('#history .caption-label')].some(c => c.innerText.includes(p))",
        arg=prompt, timeout=JOB_TIMEOUT)


def _captions(page) -> list[str]:
    return page.locator("#history .caption-label").all_inner_texts()


def _wait_captions(page, expected: list[str]) -> None:
    """The history shows exactly these prompts (in any order)."""
    page.wait_for_function(
        """(want) => { const got = [...document.querySelectorAll('#history .caption-label')].map(c => c.innerText);
            return got.length === want.length && want.every(w => got.some(g => g.includes(w))); }""",
        arg=expected, timeout=JOB_TIMEOUT)


def _box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def _choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def _pick(page, *prompts: str) -> None:
    """Tick exactly the jobs of these prompts in Select mode's list."""
    labels = page.locator("#history-picked label")
    for n in range(labels.count()):
        box = labels.nth(n).locator("input")
        box.set_checked(any(p in labels.nth(n).inner_text() for p in prompts))


def _wait_text(page, elem_id: str, text: str) -> None:
    page.wait_for_function("([id, t]) => document.querySelector('#' + id).innerText.includes(t)", arg=[elem_id, text])


def _shoot_history(page, path) -> None:
    """The history's area (from its search row to its pager), as the README shows it."""
    top = page.locator("#history-search").bounding_box()
    bottom = page.locator("#history-pager-row").bounding_box()
    scroll = page.evaluate("() => window.scrollY")
    y = top["y"] + scroll - 8
    page.screenshot(path=str(path), full_page=True, clip={
        "x": 0, "y": y, "width": page.viewport_size["width"], "height": bottom["y"] + scroll + bottom["height"] + 8 - y})


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_board_is_made_generated_into_shown_filled_zipped_and_emptied_with_undo(open_studio, app, screenshots, size):
    page = open_studio(app.url, VIEWPORTS[size], accept_downloads=True)
    lighthouse, teapot, kite = (f"{size} lighthouse at dawn", f"{size} copper teapot", f"{size} red kite")
    _generate(page, lighthouse)
    _generate(page, teapot)

    # --- a board, made under History: it is shown at once, empty --------------------------------------------
    page.locator("#boards-manage").get_by_text("Boards").first.click()
    _box(page, "board-name").fill("<bad>")
    page.locator("#board-create").click()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=toast-text]')].some(e => "
                           "e.innerText.includes('letters, digits, spaces'))")
    _box(page, "board-name").fill("Trips 2026")
    page.locator("#board-create").click()
    _wait_text(page, "board-status", "“Trips 2026” made")
    _wait_text(page, "history-pager", "Nothing on “Trips 2026” yet")
    for close in page.locator("[data-testid=toast-close]").all():
        close.click()
    page.locator("#boards-manage").get_by_text("Boards").first.click()  # folded again
    assert page.locator("#history-view input").input_value() == "▦ Trips 2026"

    # --- chosen in the form before Generate: the new job goes on it ------------------------------------------
    _choose(page, "board", "Trips 2026")
    _generate(page, kite)
    _wait_captions(page, [kite])
    _wait_text(page, "history-pager", "Page 1 of “Trips 2026”")

    # --- all jobs, Select, two picked: added to the board --------------------------------------------------
    _choose(page, "history-view", "All jobs")
    _wait_captions(page, [lighthouse, teapot, kite])
    page.locator("#history-select-mode input").check()
    page.locator("#history-picked").wait_for(state="visible")
    page.wait_for_function("() => document.querySelectorAll('#history-picked label').length === 3")
    _pick(page, lighthouse, teapot)
    page.locator("#bulk-add").click()
    _wait_text(page, "bulk-status", "2 jobs added to the board")
    _choose(page, "history-view", "▦ Trips 2026")
    _wait_captions(page, [lighthouse, teapot, kite])
    _wait_text(page, "history-pager", "Page 1 of “Trips 2026”")

    # --- a filter narrows the board's page; cleared, all three are back ---------------------------------------
    page.locator("#history-filters").get_by_text("Filters").first.click()
    _box(page, "history-negative").fill("no job has this")
    _box(page, "history-negative").press("Enter")
    _wait_text(page, "history-pager", "Nothing on this board matches")
    _box(page, "history-negative").fill("")
    _box(page, "history-negative").press("Enter")
    _wait_captions(page, [lighthouse, teapot, kite])
    page.locator("#history-filters").get_by_text("Filters").first.click()  # folded again for the picture

    # --- two picked: one zip of their originals --------------------------------------------------------------
    page.wait_for_function("() => document.querySelectorAll('#history-picked label').length === 3")
    _pick(page, teapot, kite)
    page.locator("#bulk-zip").click()
    link = page.locator("#bulk-zip-file a").first
    link.wait_for(timeout=JOB_TIMEOUT)
    with page.expect_download() as download:
        link.click()
    with zipfile.ZipFile(download.value.path()) as archive:
        names = archive.namelist()
        assert len(names) >= 2, names
        with Image.open(io.BytesIO(archive.read(names[0]))) as first:
            assert min(first.size) >= 1080  # originals, not previews
    _shoot_history(page, screenshots / f"19-boards-{size}.png")

    # --- delete two with undo: gone from the board at once, back with Undo -----------------------------------
    page.wait_for_function("() => document.querySelectorAll('#history-picked label').length === 3")
    _pick(page, lighthouse, teapot)
    page.locator("#bulk-delete").click()
    _wait_text(page, "bulk-status", "2 jobs deleted")
    _wait_captions(page, [kite])
    page.wait_for_function("() => !document.querySelector('#bulk-undo').disabled")
    page.locator("#bulk-undo").click()
    _wait_text(page, "bulk-status", "2 jobs brought back")
    _wait_captions(page, [lighthouse, teapot, kite])

    # --- the board deleted: its jobs stay in the history -----------------------------------------------------
    page.locator("#boards-manage").get_by_text("Boards").first.click()
    page.locator("#board-delete").click()
    _wait_text(page, "board-status", "deleted; its jobs are still in your history")
    _wait_captions(page, [lighthouse, teapot, kite])
    assert page.locator("#history-view input").input_value() == "All jobs"
