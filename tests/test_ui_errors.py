"""One root for the app's own refusals: ``StudioError`` (beside Akool's ``AkoolError``), and how
``user_errors`` turns each into the page's one sentence."""

from __future__ import annotations

import logging

import gradio as gr
import pytest

from akool_ui.akool.errors import AkoolError
from akool_ui.errors import StudioError
from akool_ui.service.results.images import ImageValidationError
from akool_ui.service.library.uploads import NoPublicUrl
from akool_ui.ui.handlers import USER_ERRORS, user_errors


def test_the_apps_own_refusals_share_one_root():
    assert USER_ERRORS == (AkoolError, StudioError)
    refused = ImageValidationError("That file is not an image.")
    assert isinstance(refused, StudioError) and isinstance(refused, ValueError)  # ValueError still catches it
    assert refused.user_message == str(refused) == "That file is not an image."
    assert isinstance(NoPublicUrl(), StudioError) and "public image URL" in NoPublicUrl().user_message
    assert StudioError("Nope.").user_message == "Nope." and StudioError().user_message


@pytest.mark.parametrize("error", [
    ImageValidationError("That <file> is too large."), NoPublicUrl(), AkoolError("code 1003", user_message="Bad <x>."),
])
def test_a_refusal_is_its_sentence_and_an_info_log(error, caplog):
    @user_errors
    def handler():
        raise error

    with caplog.at_level(logging.INFO), pytest.raises(gr.Error) as info:
        handler()
    assert info.value.message == error.user_message.replace("<", "&lt;").replace(">", "&gt;")
    assert "refused" in caplog.text and "failed unexpectedly" not in caplog.text


def test_anything_else_is_a_generic_sentence_with_the_traceback_in_the_log(caplog):
    @user_errors
    async def handler():
        raise KeyError("internal detail")

    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    # In a thread of its own: Playwright's sync API (the e2e tests) may keep a loop running in this one.
    with caplog.at_level(logging.INFO), pytest.raises(gr.Error) as info, ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, handler()).result()
    assert "internal detail" not in info.value.message and "Something went wrong" in info.value.message
    assert "failed unexpectedly" in caplog.text and "Traceback" in caplog.text
