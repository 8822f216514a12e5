"""One table of request fields (akool/fields.py): every ImageRequest field has one row, one default, and
the page, /generate, the CLI, the saved files and the job details all follow it."""

from __future__ import annotations

import argparse
import dataclasses
import inspect

import gradio as gr
import pytest

from akool_ui.akool import ImageRequest, InvalidRequest
from akool_ui.akool import fields as request_fields
from akool_ui.service.results import image_meta


def test_every_request_field_has_exactly_one_row():
    names = [f.name for f in request_fields.FIELDS]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(ImageRequest))
    assert len(names) == len(set(names))


def test_the_defaults_are_the_requests_own():
    request = ImageRequest(prompt="p")
    for f in request_fields.FIELDS:
        if f.name != "prompt":
            assert getattr(request, f.name) == f.default or (f.kind is list and list(getattr(request, f.name)) == list(f.default))


def test_the_page_has_one_widget_per_form_field_showing_its_default(page):
    assert set(page.form.widgets) == {f.name for f in request_fields.FORM_FIELDS}
    empty = lambda v: None if v in (None, "", "Auto") else v  # noqa: E731 - an empty box; Auto is no model
    for f in request_fields.FORM_FIELDS:
        assert empty(page.form.widgets[f.name].value) == empty(f.to_widget(f.default)), f.name


def test_generate_takes_each_api_field_with_the_tables_default():
    from akool_ui.ui.handlers.api import ApiHandlers

    from types import SimpleNamespace

    generate = ApiHandlers(access=SimpleNamespace(studio=None)).functions()["generate"]
    parameters = inspect.signature(generate).parameters
    for f in request_fields.FIELDS:
        if f.api is None:
            assert f.name not in parameters
            continue
        assert f.api in parameters, f.api
        default = parameters[f.api].default
        if default is not inspect.Parameter.empty:  # an API text parameter says "none" as ""
            assert (default if default != "" else None) == (f.default if f.default not in ("", ()) else None), f.name


def test_the_cli_has_each_cli_field_with_the_tables_default():
    from akool_ui.cli.jobs import _configure_generate

    parser = argparse.ArgumentParser()
    _configure_generate(parser)
    actions = {a.dest: a for a in parser._actions}
    for f in request_fields.FIELDS:
        if f.cli:
            assert f.cli in actions[f.name].option_strings
            default = actions[f.name].default
            assert f.name == "prompt" or (default if f.kind is not list else tuple(default or ())) == f.default


def test_saved_files_carry_the_saved_fields():
    assert image_meta.FIELDS == request_fields.SAVED_FIELDS
    assert "prompt" in request_fields.SAVED_FIELDS and request_fields.SOURCE not in request_fields.SAVED_FIELDS


def test_request_from_named_values_uses_defaults_for_the_rest():
    request = request_fields.request_from({"prompt": "A kite", "batch_quantity": None, "unknown": 1})
    assert request.batch_quantity == request_fields.field("batch_quantity").default


def test_restorable_keeps_good_values_and_defaults_bad_ones():
    restored = request_fields.restorable({"scale": "16:9", "resolution": "8k", "similar": 7, "batch_quantity": True})
    assert restored["scale"] == "16:9"
    assert restored["resolution"] == request_fields.field("resolution").default
    assert restored["similar"] == request_fields.field("similar").default
    assert restored["batch_quantity"] == request_fields.field("batch_quantity").default


def test_details_list_image_to_image_fields_only_with_a_source():
    text = {"prompt": "p", "scale": "1:1", "resolution": "4k", "similar": 0.3}
    assert dict(request_fields.detail_options(text)) == {"scale": "1:1", "resolution": "4k"}
    image = request_fields.with_source(text, "https://example.com/a.png")
    assert dict(request_fields.detail_options(image))["similar"] == 0.3


@pytest.fixture(scope="module")
def page():
    from akool_ui.ui.sections import render_page
    from tests.test_ui_panels import _studio

    with gr.Blocks():
        return render_page(_studio(), browser_secret="0" * 32)


def test_original_is_offered_only_with_a_source_image(page):
    form = page.form
    assert "Original" not in form.scale.choices[-1] and all(c[1] != "Original" for c in form.scale.choices)
    with_source = form.for_source({"source_upload": "/tmp/x.png"})
    assert with_source[form.scale]["choices"][-1] == "Original"
    assert with_source[form.similar]["visible"] is True
    # the source goes away while "Original" is chosen: the ratio falls back to the default, not an error
    without = form.for_source({"scale": "Original", "source_images": []})
    assert "Original" not in without[form.scale]["choices"]
    assert without[form.scale]["value"] == request_fields.field("scale").default
    assert without[form.similar]["visible"] == "hidden"


def test_a_request_saved_before_the_list_still_reads_its_source():
    legacy = {"prompt": "p", "source_image_url": "https://example.com/a.png", "scale": "Original"}
    assert ImageRequest.from_json(legacy).source_images == ("https://example.com/a.png",)
    assert request_fields.source_url(legacy) == "https://example.com/a.png"
    assert request_fields.restorable(legacy)["source_images"] == ["https://example.com/a.png"]
    assert request_fields.restorable(legacy)["scale"] == "Original"


def test_source_images_is_a_list_of_at_most_four_urls():
    urls = [f"https://example.com/{n}.png" for n in range(4)]
    request = ImageRequest(prompt="p", source_images=urls)
    assert request.to_payload()["source_images"] == urls and request.source_image_url == urls[0]
    assert request.to_json()["source_images"] == urls
    for bad, sentence in (([*urls, "https://example.com/5.png"], "At most 4 source images"),
                          ([1, 2], "list of web addresses"), ({"a": 1}, "list of web addresses")):
        with pytest.raises(InvalidRequest) as exc:
            ImageRequest(prompt="p", source_images=bad)
        assert sentence in exc.value.user_message
