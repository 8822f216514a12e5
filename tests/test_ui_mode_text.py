"""What the page says about the mode and the key (``ui/mode_text.py``): true for every combination, and
never an operator's set-up instruction on a visitor's page."""

from __future__ import annotations

import itertools

import pytest

from akool_ui.ui.mode_text import AppMode, banner_text, empty_history, key_label, key_placeholder

MODES = [AppMode(demo=d, needs_key=n, uploads_work=u, keeps_history=k)
         for d, n, u, k in itertools.product([True, False], repeat=4) if not (d and n)]


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("own_key", [False, True])
def test_no_banner_tells_a_visitor_to_configure_the_server(mode, own_key):
    text = banner_text(mode, own_key=own_key)
    for operator_word in ("AKOOL_", "/data", "Storage Bucket", "environment", "set `"):
        assert operator_word not in text
    assert ("paste a public image URL" in text) is not mode.uploads_work
    assert ("keeps nothing across restarts" in text) is not mode.keeps_history


def test_a_key_in_the_demo_says_requests_now_go_to_akool_and_how_to_come_back():
    demo = AppMode(demo=True)
    assert banner_text(demo, own_key=False).startswith("**Offline demo**")
    with_key = banner_text(demo, own_key=True)
    assert "not the offline demo" in with_key and "your account's credits" in with_key
    assert "this key's jobs" in with_key and "Forget key" in with_key
    assert "Offline demo" not in with_key


def test_bring_your_own_key_mode_says_required_in_the_box_and_the_banner():
    byo = AppMode(demo=False, needs_key=True)
    assert "required" in key_label(byo) and "optional" not in key_label(byo)
    assert "required" in banner_text(byo, own_key=False)
    assert "optional" in key_label(AppMode(demo=True)) and "optional" in key_label(AppMode(demo=False))
    assert "demo" in key_placeholder(AppMode(demo=True))


def test_an_empty_history_says_whose_it_is():
    assert empty_history(own_key=False, searching=False).startswith("No jobs yet")
    assert "your key" in empty_history(own_key=True, searching=False)
    assert empty_history(own_key=True, searching=True) == "No jobs match that search."


def test_the_mode_is_read_from_the_studio():
    from types import SimpleNamespace

    studio = SimpleNamespace(mode="akool", needs_api_key=True, uploads=SimpleNamespace(can_serve=False),
                             settings=SimpleNamespace(ephemeral_cache=True))
    assert AppMode.of(studio) == AppMode(demo=False, needs_key=True, uploads_work=False, keeps_history=False)
    demo = SimpleNamespace(mode="demo", needs_api_key=True, uploads=SimpleNamespace(can_serve=False))
    assert AppMode.of(demo) == AppMode(demo=True)
