"""The history shown after page load belongs to whoever is in the key box when it lands: a key typed while
the load-time history was on its way must not be overwritten by the browser's own history (the cause of a
flaky e2e test, and of a wrong history for a quick visitor on a slow server)."""

from __future__ import annotations

import gradio as gr
import pytest

from tests.test_credits import BROWSER, _generate, _page, studio  # noqa: F401  (the fixture)
from tests.conftest import OTHER_API_KEY

from akool_ui.ui.panels import new_view


@pytest.fixture()
def wired(studio):  # noqa: F811
    return _page(studio)


def test_a_key_typed_during_load_gets_its_own_history_back(wired):
    h, page = wired
    _generate(h, new_view([]))  # the browser's own job
    loaded = h.history.start_session(BROWSER, "")  # the load-time answer: the browser's history
    assert len(loaded[page.history.gallery]) == 1
    # the visitor typed a key before it landed: catch_up sees the box now holds a key
    caught = h.history.catch_up(loaded[page.history.state], OTHER_API_KEY, BROWSER)
    assert caught[page.history.gallery] == []
    assert caught[page.history.pager].startswith("No jobs for your key")


def test_nothing_changes_when_the_owner_is_the_same(wired):
    h, page = wired
    loaded = h.history.start_session(BROWSER, OTHER_API_KEY)
    outputs = page.history.outputs()
    for unchanged in (h.history.catch_up(loaded[page.history.state], OTHER_API_KEY, BROWSER),
                      h.history.catch_up(None, "", None)):  # no browser id and no key: nothing to show
        # a skip for each output (an empty dict would be read by Gradio as one value for all five)
        assert set(unchanged) == set(outputs) and all(u == gr.skip() for u in unchanged.values())


def test_a_search_typed_meanwhile_is_kept(wired):
    h, page = wired
    state = {**h.history.start_session(BROWSER, "")[page.history.state], "query": "kite"}
    caught = h.history.catch_up(state, OTHER_API_KEY, BROWSER)
    assert caught[page.history.state]["query"] == "kite"
