"""What the controls say they will do (``ui/captions.py``): which job a U/V press acts on, what
"Upscale this" presses, and what Generate will make and cost before it is pressed."""

from __future__ import annotations

from akool_ui.akool.models import BUTTONS
from akool_ui.jobs import RecordState
from akool_ui.ui import captions, views
from tests.test_ui_views import CHILD, PARENT, _record, _stored


def _finished(job_id=PARENT, index=0, **kw):
    record = _stored(_record(job_id, index=index, state=RecordState.SUCCEEDED, **kw), 4)
    record.buttons = list(BUTTONS)
    return record


def test_the_selection_line_names_the_job_and_candidate_the_buttons_act_on():
    record = _finished(index=1)
    line = captions.selection_line(record, "Image 2", 2, jobs_shown=2)
    assert line.startswith("Selected: **Image 2 · #3**.")
    assert "U1–U4 and V1–V4 act on Image 2's candidates #1–#4" in line
    assert captions.selection_line(None, "", 0, 0).startswith("Select an image")


def test_a_result_without_buttons_says_so():
    upscale = _stored(_record(CHILD, kind="button", parent_id=PARENT, button="U3", state=RecordState.SUCCEEDED), 1)
    assert "no U/V buttons" in captions.selection_line(upscale, "U3 of Image 2", 0, jobs_shown=3)
    assert captions.this_button("U", upscale, 0, views.button_views(upscale, 0)) is None


def test_upscale_this_is_the_selected_candidates_button():
    record = _finished()
    record.used_buttons = ["V3"]
    buttons = views.button_views(record, 2)
    upscale = captions.this_button("U", record, 2, buttons)
    vary = captions.this_button("V", record, 2, buttons)
    assert upscale.name == "U3" and upscale.interactive
    assert vary.name == "V3" and vary.used and not vary.interactive


def test_the_cost_line_counts_jobs_candidates_and_credits():
    from akool_ui.service import CreditEstimate, default_estimate

    one = captions.cost_line(default_estimate(1, "1080p"))  # the measured figures before anything is learned
    assert one == "Generate makes 1 job × 4 candidates (4 images) · about 3 credits; each U/V press about 4 credits."
    assert captions.cost_line(default_estimate(3, "4k")).startswith(
        "Generate makes 3 jobs × 4 candidates (12 images) · about 12 credits;")
    cheap = CreditEstimate(jobs=1, per_job=1, total=1, per_press=1)
    assert "about 1 credit;" in captions.cost_line(cheap) and "1 credits" not in captions.cost_line(cheap)


def test_the_cost_line_shows_the_balance_and_warns_when_the_estimate_exceeds_it():
    from akool_ui.service import default_estimate

    two = default_estimate(2, "4k")  # 8
    assert captions.cost_line(two, 1234).endswith("  \nAkool credit: 1,234")
    assert "Demo credit (simulated): 9" in captions.cost_line(two, 9, demo=True)
    warned = captions.cost_line(two, 5)
    assert warned.endswith("⚠️ About 8 credits is more than the 5 left: choose fewer jobs or 1080p, or top up at Akool.")
    assert "⚠️" not in captions.cost_line(two, 8)  # exactly enough is enough
    assert captions.balance_line(None) == "" and captions.balance_line(12.5) == "Akool credit: 12.5"


def test_the_full_size_link_opens_the_original_in_a_new_tab():
    record = _finished()
    link = captions.full_size_link("/tmp/gradio/media/a b.png", record, 0)
    assert link == ('<a href="gradio_api/file=/tmp/gradio/media/a%20b.png" target="_blank" rel="noopener">'
                    "Open the original at full size (1080×1080) ↗</a>")
    assert captions.full_size_link(None, record, 0) == ""


def test_only_a_u_result_compares_against_a_parent_candidate():
    upscale = _record(CHILD, kind="button", parent_id=PARENT, button="U3")
    variation = _record(CHILD, kind="button", parent_id=PARENT, button="V3")
    assert captions.upscale_parent_index(upscale) == 2
    assert captions.upscale_parent_index(variation) is None
    assert captions.upscale_parent_index(_finished()) is None and captions.upscale_parent_index(None) is None
