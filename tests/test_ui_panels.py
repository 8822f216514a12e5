"""The page's panels and the named outputs the handlers return (``ui/panels.py``).

Handlers return ``{component: value}`` dicts; Gradio places each value at its component's position among
an event's outputs. These tests pin that contract: every component of a panel gets exactly one value,
the events list exactly the components their handlers return, and Gradio maps the dict as we expect.
Built on a page that is never launched (a stand-in Studio: only the banner reads it).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.blocks import Block, convert_component_dict_to_list

from akool_ui.akool.models import BUTTONS
from akool_ui.ui.handlers import StudioHandlers
from akool_ui.ui.layout import _setup_events, build_ui, render_page
from akool_ui.ui.media import MediaLinks
from akool_ui.akool import fields as request_fields
from akool_ui.ui.panels import SOURCE_UPLOAD, HistoryRender, ResultsRender, new_history_state, new_view
from akool_ui.ui.views import ButtonView

SKIP = gr.skip()


def _studio():
    from akool_ui.service import default_estimate

    return SimpleNamespace(describe_mode=lambda: "Offline demo", mode="demo", uploads=SimpleNamespace(can_serve=True),
                           delete=lambda job_id, owner: False, credit_estimate=default_estimate,
                           credit_balance=lambda api_key: None)


@pytest.fixture(scope="module")
def page():
    with gr.Blocks():
        return render_page(_studio(), browser_secret="0" * 32)


@pytest.fixture(scope="module")
def wired(tmp_path_factory):
    """A page with its events wired: (page, handlers, {api name: ids of the event's outputs})."""
    media = MediaLinks(b"k" * 32, tmp_path_factory.mktemp("gradio"))
    with gr.Blocks() as demo:
        page = render_page(_studio(), browser_secret="0" * 32)
        handlers = StudioHandlers(_studio(), page, media)
        _setup_events(demo, page, handlers)
    outputs = {fn.api_name: [o._id for o in fn.outputs] for fn in demo.fns.values() if fn.fn is not None}
    return page, handlers, outputs


def _components(panel) -> list[Block]:
    """Every component a panel dataclass holds (dict fields flattened)."""
    found: list[Block] = []
    for f in dataclasses.fields(panel):
        value = getattr(panel, f.name)
        found.extend(value.values() if isinstance(value, dict) else [value])
    return found


def _render(**changes) -> ResultsRender:
    values = dict(
        status="✓ done", gallery=[("/tmp/a.png", "Job 1")], view=new_view(["j1"]), details="**Job** j1",
        original="/tmp/a-original.png", zip="/tmp/all.zip",
        buttons=[ButtonView(name, offered=True, used=name == "U2", highlighted=name == "V1") for name in BUTTONS],
        final=True, running=False, resumable=False,
    )
    return ResultsRender(**{**values, **changes})


def test_every_results_component_gets_exactly_one_value(page):
    results = page.results
    outputs = results.outputs()
    # Stop is the eighth; the selection line and "Upscale this"/"Vary this" the last three
    # and Undo delete, the full-size link and the before/after slider
    # and the prompt to copy, the favourite star
    assert len(outputs) == len(set(outputs)) == 8 + len(BUTTONS) + 3 + 3 + 1 + 2 + 1 + 1
    # a new component cannot be left out of the outputs (the notification opt-in is the visitor's own)
    assert set(outputs) == set(_components(results)) - {results.notify}
    updates = results.updates(_render())
    assert set(updates) == set(outputs)
    assert updates[results.status] == "✓ done" and updates[results.view] == new_view(["j1"])
    assert updates[results.gallery] == [("/tmp/a.png", "Job 1")]
    assert updates[results.download_one]["value"] == "/tmp/a-original.png"
    assert updates[results.download_all]["value"] == "/tmp/all.zip"


def test_results_buttons_are_matched_by_name_not_position(page):
    buttons = page.results.buttons
    reversed_views = list(reversed(_render().buttons))  # the order of the views must not matter
    updates = page.results.updates(_render(buttons=reversed_views))
    assert updates[buttons["U2"]]["value"] == "U2 ✓" and updates[buttons["U2"]]["interactive"] is False
    assert updates[buttons["U2"]]["elem_classes"] == ["akool-action", "used"]
    assert updates[buttons["V1"]]["variant"] == "primary" and updates[buttons["U1"]]["variant"] == "secondary"
    assert [updates[buttons[name]]["value"] for name in BUTTONS] == [
        "U2 ✓" if name == "U2" else name for name in BUTTONS
    ]


def test_results_without_an_image_or_final_job_disable_their_actions(page):
    results = page.results
    updates = results.updates(_render(original=None, zip=None, final=False, resumable=True))
    assert updates[results.download_one]["interactive"] is False
    assert updates[results.download_all]["interactive"] is False
    assert updates[results.use_source]["interactive"] is False
    assert updates[results.reuse]["interactive"] is False and updates[results.delete]["interactive"] is False
    assert updates[results.check_again]["visible"] is True and updates[results.stop]["visible"] is False


def test_a_running_job_offers_stop_and_not_check_again(page):
    results = page.results
    updates = results.updates(_render(final=False, running=True))
    assert updates[results.stop]["visible"] is True and updates[results.check_again]["visible"] is False


def test_selecting_leaves_the_gallery_alone_and_a_tick_touches_only_the_status(page):
    results = page.results
    updates = results.updates(_render(), gallery=False)
    assert set(updates) == set(results.outputs()) and updates[results.gallery] == SKIP
    assert results.status_update("◐ processing · 3 s") == {results.status: "◐ processing · 3 s"}


def test_gradio_places_each_value_at_its_components_position(page):
    """The installed Gradio turns our dict into the positional list it sends (missing keys: skip)."""
    outputs = page.results.outputs()
    updates = page.results.updates(_render())
    as_list = convert_component_dict_to_list(outputs, updates)
    assert as_list == [updates[component] for component in outputs]
    tick = convert_component_dict_to_list(outputs, page.results.status_update("…"))
    assert tick[outputs.index(page.results.status)] == "…"
    assert all(value == SKIP for i, value in enumerate(tick) if outputs[i] is not page.results.status)


def test_history_updates_cover_its_outputs(page):
    history = page.history
    assert len(history.outputs()) == len(set(history.outputs())) == 5
    state = new_history_state("kite")
    updates = history.updates(HistoryRender([("/tmp/t.png", "A kite")], state, "Page 1", has_newer=False, has_older=True))
    assert set(updates) == set(history.outputs())
    assert updates[history.state] == state and updates[history.pager] == "Page 1"
    assert updates[history.newer]["interactive"] is False and updates[history.older]["interactive"] is True


def test_reuse_fills_every_form_field_once(page):
    form = page.form
    fill = {"prompt": "A kite", "negative_prompt": "blur", SOURCE_UPLOAD: None,
            "source_images": ["https://example.com/k.png"], "scale": "16:9", "resolution": "4k",
            "batch_quantity": 2, "similar": 0.7, "model_name": "wavespeed-ai/flux-kontext-dev"}
    updates = form.fill(fill)
    assert set(updates) == set(form.inputs()) and len(form.inputs()) == len(set(form.inputs())) == 9
    assert updates[form.prompt] == "A kite" and updates[form.batch] == 2
    assert updates[form.model] == "wavespeed-ai/flux-kontext-dev"
    assert updates[form.similar] == {"__type__": "update", "value": 0.7, "visible": True}
    hidden = form.fill({**fill, "source_images": []})
    assert hidden[form.similar]["visible"] == "hidden"  # stays in the page (stable id), not shown
    assert form.fill({**fill, "model_name": None})[form.model] == "Auto"


def test_the_form_reads_its_values_by_field_name(page):
    form = page.form
    values = {form.prompt: "A kite", form.model: "Auto", form.batch: 3, form.source.image: "/tmp/x.png"}
    named = form.named(values)
    assert named["prompt"] == "A kite" and named["batch_quantity"] == 3
    assert named["model_name"] is None and named[SOURCE_UPLOAD] == "/tmp/x.png"
    assert set(named) == {*page.form.widgets, SOURCE_UPLOAD}


def test_forgetting_the_key_clears_box_storage_and_remember(page):
    keys = page.keys
    assert keys.forgotten() == {keys.api_key: "", keys.store: {"k": ""}, keys.remember: False}


@pytest.mark.parametrize("name", ["ui_generate", "ui_generate_submit", *[f"press_{b}" for b in BUTTONS],
                                  "press_this_U", "press_this_V", "ui_check_again", "stop", "select", "delete",
                                  "reopen"])
def test_result_events_output_the_whole_results_panel(wired, name):
    page, _, outputs = wired
    assert outputs[name] == [c._id for c in page.results.outputs()]


def test_each_event_lists_every_component_its_handler_returns(wired):
    page, h, outputs = wired
    ids = lambda updates: {c._id for c in updates}  # noqa: E731
    assert ids(h.create.source_changed({page.form.source.image: "/tmp/x.png"})) == set(outputs["source_changed"])
    assert ids(h.create.source_url_edited("")) == set(outputs["source_url_edited"])
    assert ids(page.form.source.checked(None)) == set(outputs["check_source_url"])
    assert ids(h.create.cost(3)) == set(outputs["cost"])
    assert ids(page.header.for_key("k")) == set(outputs["for_key"])
    assert ids(page.form.use_source("/tmp/x.png")) == set(outputs["use_as_source"])
    assert ids(page.form.fill({**request_fields.defaults(), "prompt": "p", SOURCE_UPLOAD: None})) == set(outputs["reuse_settings"])
    history = page.history.updates(HistoryRender([], new_history_state(), "", has_newer=False, has_older=False))
    assert ids({**page.keys.forgotten(), **history}) == set(outputs["forget_key"])
    for name in ("refresh", "older", "newer", "start_session"):
        assert outputs[name] == [c._id for c in page.history.outputs()], name


def test_build_ui_makes_the_page_and_only_the_named_public_endpoints(tmp_path):
    demo = build_ui(_studio(), browser_secret="0" * 32, media=MediaLinks(b"k" * 32, tmp_path))
    public = sorted(fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public")
    assert public == ["check_again", "generate", "history", "job", "original", "press_button"]
