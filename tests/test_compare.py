"""Compare (issue 20): the tray's state (add, remove, bound, dedupe, other owners' and deleted jobs), the
labels and the scale note, and the handlers against a real studio talking HTTP to the simulator."""

from __future__ import annotations

import re

import gradio as gr
import pytest

from akool_ui.jobs import ImageEntry, ImageState, JobRecord
from akool_ui.ui.compare_panel import SLIDER, ComparePane, grid_html
from akool_ui.ui.compare_tray import (
    MAX_COMPARE, AlreadyInTray, TrayFull, add_to_tray, image_label, keep_resolved, remove_from_tray, scale_note,
    tray_pairs,
)
from akool_ui.ui.panels import new_view
from tests.conftest import OTHER_API_KEY
from tests.test_credits import BROWSER, _drain, _page, studio  # noqa: F401 - the fixture, reused

A, B, C, D, E = ("6650a1b2c3d4e5f6a7b8c9d" + str(n) for n in range(5))


# --- the tray's state ------------------------------------------------------------------------------------


def test_adding_keeps_order_refuses_a_duplicate_and_stops_at_four():
    tray = add_to_tray([], A, 0)
    tray = add_to_tray(tray, A, 1)  # another candidate of the same job is another image
    assert tray_pairs(tray) == [(A, 0), (A, 1)]
    with pytest.raises(AlreadyInTray, match="already in the compare tray"):
        add_to_tray(tray, A, 1)
    tray = add_to_tray(add_to_tray(tray, B, 0), C, 0)
    assert len(tray) == MAX_COMPARE == 4
    with pytest.raises(TrayFull, match="up to 4 images: remove one first"):
        add_to_tray(tray, D, 0)
    assert tray_pairs(tray) == [(A, 0), (A, 1), (B, 0), (C, 0)]  # unchanged by the refusals


def test_removing_takes_out_one_position_and_a_position_past_the_end_changes_nothing():
    tray = add_to_tray(add_to_tray(add_to_tray([], A, 0), B, 2), C, 3)
    assert tray_pairs(remove_from_tray(tray, 1)) == [(A, 0), (C, 3)]
    assert tray_pairs(remove_from_tray(tray, 7)) == tray_pairs(tray)
    assert remove_from_tray(remove_from_tray(remove_from_tray(tray, 0), 0), 0) == []


def test_a_malformed_tray_is_read_as_what_is_valid_in_it():
    raw = [{"job": A, "index": 0}, {"job": A, "index": 0}, {"job": B, "index": True}, {"job": C, "index": -1},
           {"job": "", "index": 1}, "junk", {"job": D, "index": "2"}, {"job": E, "index": 3}]
    assert tray_pairs(raw) == [(A, 0), (E, 3)]
    assert tray_pairs(None) == [] and tray_pairs({"job": A}) == []


def test_images_that_no_longer_resolve_drop_out_with_one_sentence():
    tray = add_to_tray(add_to_tray(add_to_tray([], A, 0), B, 0), C, 0)
    kept, sentence = keep_resolved(tray, ["a", None, "c"])
    assert tray_pairs(kept) == [(A, 0), (C, 0)]
    assert sentence == "1 image left the compare tray: its job was deleted or its file is gone."
    kept, sentence = keep_resolved(tray, [None, None, "c"])
    assert sentence.startswith("2 images left") and sentence.count(".") == 1
    assert keep_resolved(tray, ["a", "b", "c"]) == (tray, "")


# --- labels -------------------------------------------------------------------------------------------


def _record(job_id: str, *, size=(1920, 1080), images: int = 4, **kw) -> JobRecord:
    record = JobRecord.create(job_id, "owner", **kw)
    record.images = [ImageEntry(index=i, width=size[0], height=size[1], state=ImageState.STORED) for i in range(images)]
    return record


def test_labels_say_which_candidate_the_lineage_the_resolution_and_the_pixel_size():
    parent = _record(A, request={"prompt": "A lighthouse on a cliff at dawn, watercolour, very detailed",
                                 "resolution": "1080p"})
    assert image_label(parent, 1) == "“A lighthouse on a cliff at dawn…” · #2 · 1080p · 1920×1080"
    four_k = _record(B, size=(3840, 2160), request={"prompt": "A kite", "resolution": "4k"})
    assert image_label(four_k, 0) == "“A kite” · #1 · 4K · 3840×2160"
    upscale = _record(C, size=(3840, 2160), images=1, kind="button", parent_id=A, button="U2")
    assert image_label(upscale, 0, parent=parent).startswith("U2 of “A lighthouse")
    assert image_label(upscale, 0, parent=parent).endswith(" · 4K upscale · 3840×2160")
    variation = _record(D, kind="button", parent_id=A, button="V3", request={"prompt": "A kite"})
    assert image_label(variation, 2, parent=parent) == "V3 of “A kite” · #3 · 1080p · 1920×1080"


def test_the_note_says_which_image_is_scaled_to_line_up():
    assert scale_note([(1920, 1080), (1920, 1080)]) == "All are 1920×1080: at 100 % each pixel is shown 1:1."
    note = scale_note([(1920, 1080), (3840, 2160)])
    assert "1920×1080 is scaled ×2 to match 3840×2160, which is 1:1 at 100 %" in note


def test_the_grid_draws_every_pane_at_the_widest_width_and_escapes_labels():
    panes = [ComparePane("/tmp/a.png", "<b>x</b> & “y”", (1920, 1080), 2.0),
             ComparePane("/tmp/b.png", "U1 of z", (3840, 2160), 1.0, is_original=False)]
    page = grid_html(panes, "200")
    assert 'data-zoom="200"' in page and "--ref-w: 3840" in page and 'data-count="2"' in page
    assert "<b>" not in page and "&lt;b&gt;x&lt;/b&gt; &amp; “y” (scaled ×2)" in page
    assert "preview (the original is no longer kept)" in page
    assert page.count("<img ") == 2 and 'src="gradio_api/file=/tmp/a.png"' in page
    assert 'data-zoom="fit"' in grid_html(panes, "500")  # an unknown zoom: fit


# --- through the page's handlers, against the simulator -----------------------------------------------------


def _generate(h, prompt="A kite", resolution="1080p", api_key="") -> dict:
    last = _drain(h.create.generate({"prompt": prompt, "resolution": resolution}, new_view([]), api_key, BROWSER, None))[-1]
    return last


def _select(view: dict, job_id: str, index: int) -> dict:
    return {**view, "selected": job_id, "index": index}


def _value(update):
    return update.get("value") if isinstance(update, dict) else update


def _add(h, page, tray, view, job_id, index, api_key=""):
    out = h.compare.add(tray, _select(view, job_id, index), api_key, BROWSER)
    return out[page.compare.tray.state], out


def test_two_candidates_side_by_side_then_in_the_slider(studio):
    h, page = _page(studio)
    compare = page.compare
    view = _generate(h)[page.results.view]
    job = view["jobs"][0]
    tray, out = _add(h, page, [], view, job, 0)
    assert _value(out[compare.tray.open]) == "Compare (1)" and out[compare.tray.open]["interactive"] is False
    tray, out = _add(h, page, tray, view, job, 1)
    assert out[compare.tray.open]["interactive"] is True and out[compare.tray.open]["value"] == "Compare (2)"
    thumbs = _value(out[compare.tray.thumbs])
    assert len(thumbs) == 2 and thumbs[1][1] == "“A kite” · #2 · 1080p · 1080×1080"
    assert [out[b]["visible"] for b in compare.tray.removes] == [True, True, False, False]
    with pytest.raises(gr.Error, match="already in the compare tray"):
        h.compare.add(tray, _select(view, job, 1), "", BROWSER)

    shown = h.compare.open(tray, "Side by side", "Fit", "", BROWSER)
    assert shown[compare.view]["visible"] is True
    grid = _value(shown[compare.grid])
    assert grid.count("<img ") == 2 and "“A kite” · #1 · 1080p · 1080×1080" in grid
    assert shown[compare.note] == "All are 1080×1080: at 100 % each pixel is shown 1:1."
    assert shown[compare.slider]["visible"] is False

    slid = h.compare.open(tray, SLIDER, "200 %", "", BROWSER)
    before, after = slid[compare.slider]["value"]
    assert slid[compare.slider]["visible"] is True and slid[compare.grid]["visible"] is False
    assert before != after and all(link.endswith((".png", ".jpg", ".webp")) for link in (before, after))
    assert "⟷" in slid[compare.slider]["label"]

    removed = h.compare.remove_handler(0)(tray, "", BROWSER)
    assert tray_pairs(removed[compare.tray.state]) == [(job, 1)]
    cleared = h.compare.clear()
    assert cleared[compare.tray.state] == [] and cleared[compare.view]["visible"] is False


def test_an_upscale_beside_its_parent_is_shown_at_the_same_width_and_the_note_says_which_is_scaled(studio):
    h, page = _page(studio)
    compare = page.compare
    view = _generate(h)[page.results.view]
    parent = view["jobs"][0]
    last = _drain(h.create.press_handler("U1")(_select(view, parent, 0), "", BROWSER, None))[-1]
    child = next(j for j in last[page.results.view]["jobs"] if j != parent)
    tray, _ = _add(h, page, [], view, parent, 0)
    tray, _ = _add(h, page, tray, view, child, 0)
    shown = h.compare.open(tray, "Side by side", "100 %", "", BROWSER)
    grid = _value(shown[compare.grid])
    width, height = map(int, re.search(r"U1 of “A kite” · 4K upscale · (\d+)×(\d+)", grid).groups())
    assert max(width, height) >= 3840
    assert f"--ref-w: {width}" in grid and 'data-zoom="100"' in grid
    factor = f"{width / 1080:.3g}"
    assert f"1080×1080 is scaled ×{factor} to match {width}×{height}" in shown[compare.note]
    assert f"(scaled ×{factor})" in grid


def test_another_owners_image_is_never_added_or_shown(studio):
    h, page = _page(studio)
    compare = page.compare
    theirs = _generate(h, api_key=OTHER_API_KEY)[page.results.view]
    mine = _generate(h)[page.results.view]
    their_job, my_job = theirs["jobs"][0], mine["jobs"][0]
    with pytest.raises(gr.Error, match="not stored"):
        h.compare.add([], _select(theirs, their_job, 0), "", BROWSER)  # with my identity
    # a tray that names their job (as a tampered state would) shows only mine, and says one went
    tray = [{"job": my_job, "index": 0}, {"job": their_job, "index": 0}, {"job": my_job, "index": 1}]
    shown = h.compare.open(tray, "Side by side", "Fit", "", BROWSER)
    assert tray_pairs(shown[compare.tray.state]) == [(my_job, 0), (my_job, 1)]
    assert _value(shown[compare.grid]).count("<img ") == 2 and their_job not in _value(shown[compare.grid])
    assert shown[compare.note].startswith("1 image left the compare tray")


def test_a_deleted_job_drops_out_of_the_tray_with_one_sentence(studio):
    h, page = _page(studio)
    compare = page.compare
    first = _generate(h, "A kite")[page.results.view]
    second = _generate(h, "A boat")[page.results.view]
    tray, _ = _add(h, page, [], first, first["jobs"][0], 0)
    tray, _ = _add(h, page, tray, second, second["jobs"][0], 0)
    tray, _ = _add(h, page, tray, second, second["jobs"][0], 3)
    assert studio.delete(first["jobs"][0], h.access.owner("", BROWSER))
    shown = h.compare.open(tray, "Side by side", "Fit", "", BROWSER)
    assert len(shown[compare.tray.state]) == 2
    assert shown[compare.tray.note] == "1 image left the compare tray: its job was deleted or its file is gone."
    assert _value(shown[compare.grid]).count("<img ") == 2
    # with one image left, there is nothing to compare: the view closes, the tray says why
    alone = h.compare.remove_handler(0)(shown[compare.tray.state], "", BROWSER)
    shut = h.compare.open(alone[compare.tray.state], "Side by side", "Fit", "", BROWSER)
    assert shut[compare.view]["visible"] is False and shut[compare.tray.open]["interactive"] is False


def test_adding_needs_a_shown_image_and_the_tray_stops_at_four(studio):
    h, page = _page(studio)
    view = _generate(h)[page.results.view]
    job = view["jobs"][0]
    with pytest.raises(gr.Error, match="Select an image first"):
        h.compare.add([], {}, "", BROWSER)
    with pytest.raises(gr.Error, match="still coming"):
        h.compare.add([], _select(view, job, -1), "", BROWSER)
    tray = []
    for index in range(4):
        tray, _ = _add(h, page, tray, view, job, index)
    other = _generate(h, "A boat")[page.results.view]
    with pytest.raises(gr.Error, match="up to 4 images"):
        h.compare.add(tray, _select(other, other["jobs"][0], 0), "", BROWSER)
