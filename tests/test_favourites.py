"""Favourites (``service/library/favourites.py``): starred per owner, kept across restarts in one small
document, bounded, and a write failure loses nothing."""

from __future__ import annotations

import os

import pytest

from akool_ui.adapters.local import LocalDocuments
from akool_ui.adapters.local import documents as documents_module
from akool_ui.service.library import favourites as favourites_module
from akool_ui.service.library.favourites import Favourites

FAVOURITES_FILE = "favourites.json"  # the favourites document, as the local adapter keeps it


def test_stars_are_per_owner_and_survive_a_restart(tmp_path):
    favs = Favourites(LocalDocuments(tmp_path))
    assert favs.set("alice", "job-1", True) and favs.set("alice", "job-2", True)
    favs.set("bob", "job-9", True)
    assert favs.is_starred("alice", "job-1") and not favs.is_starred("bob", "job-1")
    assert favs.ids("alice") == ["job-2", "job-1"]  # most recently starred first
    assert not favs.set("alice", "job-1", False)
    again = Favourites(LocalDocuments(tmp_path))
    assert again.ids("alice") == ["job-2"] and again.ids("bob") == ["job-9"]
    assert oct(os.stat(tmp_path / FAVOURITES_FILE).st_mode & 0o777) == "0o600"


def test_an_unreadable_file_starts_empty_and_is_not_overwritten_until_a_change(tmp_path):
    (tmp_path / FAVOURITES_FILE).write_text("{not json")
    favs = Favourites(LocalDocuments(tmp_path))
    assert favs.ids("alice") == []
    assert (tmp_path / FAVOURITES_FILE).read_text() == "{not json"


def test_each_owner_keeps_at_most_the_newest_stars(tmp_path, monkeypatch):
    monkeypatch.setattr(favourites_module, "MAX_PER_OWNER", 3)
    favs = Favourites(LocalDocuments(tmp_path))
    for n in range(5):
        favs.set("alice", f"job-{n}", True)
    assert sorted(favs.ids("alice")) == ["job-2", "job-3", "job-4"]


def test_a_failed_write_keeps_the_old_stars(tmp_path, monkeypatch):
    favs = Favourites(LocalDocuments(tmp_path))
    favs.set("alice", "job-1", True)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(documents_module, "write_atomic", broken)
    with pytest.raises(OSError):
        favs.set("alice", "job-2", True)
    assert favs.ids("alice") == ["job-1"]


def test_two_processes_starring_at_once_keep_both_stars(tmp_path):
    first, second = Favourites(LocalDocuments(tmp_path)), Favourites(LocalDocuments(tmp_path))
    first.set("alice", "job-1", True)
    second.set("alice", "job-2", True)  # written over the first one's star, not instead of it
    first.set("bob", "job-9", True)
    assert first.ids("alice") == second.ids("alice") == ["job-2", "job-1"]
    assert second.is_starred("bob", "job-9")
