"""The store's collaborators on their own: the fair-share choice, history cursors, the one user of ``_sql``."""

from __future__ import annotations

from pathlib import Path

import pytest

import akool_ui.adapters.local.store as store_package
from akool_ui.service.results.eviction import heaviest_over_fair_share
from akool_ui.adapters.local.store.index import decode_cursor, encode_cursor


def test_the_heaviest_owner_above_fair_share_pays_first():
    usage = {"a": 10, "b": 50, "c": 40}  # limit 90 over 3 owners: a fair share is 30
    assert heaviest_over_fair_share(usage, 90, set()) == "b"
    assert heaviest_over_fair_share(usage, 90, {"b"}) == "c", "an owner with nothing evictable is skipped"
    assert heaviest_over_fair_share(usage, 90, {"b", "c"}) is None
    assert heaviest_over_fair_share({"a": 30, "b": 30}, 60, set()) is None, "at their share: nobody pays"
    assert heaviest_over_fair_share({}, 60, set()) is None


def test_a_cursor_carries_its_key_and_nothing_else_decodes():
    key = (1234.5, "0123456789abcdef01234567")
    assert decode_cursor(encode_cursor(*key)) == key
    for forged in ("", "garbage", encode_cursor(True, key[1]), encode_cursor(1.0, "../etc/passwd")):
        with pytest.raises(ValueError):
            decode_cursor(forged)


def test_only_the_index_borrows_diskcache_private_sql():
    folder = Path(store_package.__file__).parent
    users = sorted(p.name for p in folder.glob("*.py") if "._sql(" in p.read_text("utf-8"))
    assert users == ["index.py"]
