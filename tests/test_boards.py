"""Boards (``service/library/boards.py``) and the history's views, search and bulk actions
(``service/library/search.py``, ``service/studio/boards.py``): boards per owner in one document with
compare-and-set, bounded, names checked; history pages narrowed by board, favourites and each field,
with exact paging."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from akool_ui.adapters.local import LocalDocuments
from akool_ui.bootstrap import build_studio
from akool_ui.jobs import JobRecord, RecordState
from akool_ui.service import BoardRefused, HistoryFilter, SearchRefused, parse_day
from akool_ui.service.library import boards as boards_module
from akool_ui.service.library import search as search_module
from akool_ui.service.library.boards import Boards
from akool_ui.settings import Settings
from tests.app_helpers import FAST_DEMO

OWNER = "owner-boards"
DAY = 86400.0
T0 = dt.datetime(2026, 11, 2, 12, tzinfo=dt.timezone.utc).timestamp()  # a Monday, noon UTC


def test_boards_are_per_owner_hold_a_job_in_several_and_survive_a_restart(tmp_path):
    boards = Boards(LocalDocuments(tmp_path))
    trips, cats = boards.create("alice", "  Trips  2026 "), boards.create("alice", "Cats")
    assert trips.name == "Trips 2026" and [b.name for b in boards.list("alice")] == ["Trips 2026", "Cats"]
    assert boards.list("bob") == []
    assert boards.add("alice", trips.id, ["job-1", "job-2"]) == 2 and boards.add("alice", cats.id, ["job-1"]) == 1
    assert boards.add("alice", trips.id, ["job-2", "job-3"]) == 1  # job-2 was there already
    again = Boards(LocalDocuments(tmp_path))
    assert again.job_ids("alice", trips.id) == ["job-3", "job-2", "job-1"]  # most recently added first
    assert again.job_ids("alice", cats.id) == ["job-1"]
    assert again.rename("alice", cats.id, "Cats & dogs").name == "Cats & dogs"
    assert boards.remove("alice", trips.id, ["job-2"]) == 1 and boards.job_ids("alice", trips.id) == ["job-3", "job-1"]
    assert boards.delete("alice", trips.id) and not boards.delete("alice", trips.id)
    assert [b.name for b in Boards(LocalDocuments(tmp_path)).list("alice")] == ["Cats & dogs"]
    assert oct(os.stat(tmp_path / "boards.json").st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("name, sentence", [
    ("", "Give the board a name."),
    ("   ", "Give the board a name."),
    ("x" * 41, "at most 40 characters"),
    ("<script>", "letters, digits, spaces"),
    ("-dash first", "letters, digits, spaces"),
    (None, "Give the board a name."),
    (42, "Give the board a name."),
])
def test_a_bad_name_is_refused_with_one_sentence_and_nothing_is_kept(tmp_path, name, sentence):
    boards = Boards(LocalDocuments(tmp_path))
    with pytest.raises(BoardRefused) as refused:
        boards.create("alice", name)
    assert sentence in refused.value.user_message and refused.value.user_message.endswith(".")
    assert boards.list("alice") == [] and not (tmp_path / "boards.json").exists()


def test_names_are_unique_per_owner_and_unicode_names_are_fine(tmp_path):
    boards = Boards(LocalDocuments(tmp_path))
    boards.create("alice", "Été à Paris")
    with pytest.raises(BoardRefused, match="already have a board"):
        boards.create("alice", "été À PARIS")
    assert boards.create("bob", "Été à Paris").name == "Été à Paris"
    other = boards.create("alice", "Other")
    with pytest.raises(BoardRefused, match="already have a board"):
        boards.rename("alice", other.id, "Été à Paris")
    with pytest.raises(BoardRefused, match="no longer exists"):
        boards.rename("bob", other.id, "Mine now")  # someone else's board is not found
    with pytest.raises(BoardRefused, match="no longer exists"):
        boards.add("bob", other.id, ["job-1"])


def test_boards_per_owner_and_jobs_per_board_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(boards_module, "MAX_BOARDS", 2)
    monkeypatch.setattr(boards_module, "MAX_JOBS_PER_BOARD", 3)
    boards = Boards(LocalDocuments(tmp_path))
    first = boards.create("alice", "One")
    boards.create("alice", "Two")
    with pytest.raises(BoardRefused, match="2 boards already"):
        boards.create("alice", "Three")
    assert boards.create("bob", "Three").name == "Three"  # the bound is per owner
    boards.add("alice", first.id, ["a", "b"])
    with pytest.raises(BoardRefused, match="at most 3 jobs"):
        boards.add("alice", first.id, ["c", "d"])
    assert boards.job_ids("alice", first.id) == ["b", "a"]  # nothing of the refused add was kept


def test_two_processes_changing_boards_at_once_keep_both_changes(tmp_path):
    here, there = Boards(LocalDocuments(tmp_path)), Boards(LocalDocuments(tmp_path))
    board = here.create("alice", "Shared")
    assert there.get("alice", board.id) is not None  # seen by the other process at once
    here.add("alice", board.id, ["job-1"])
    there.add("alice", board.id, ["job-2"])  # its cached copy is stale: compare-and-set reads again
    there.create("alice", "Second")
    here.rename("alice", board.id, "Shared, renamed")
    fresh = Boards(LocalDocuments(tmp_path))
    assert sorted(fresh.job_ids("alice", board.id)) == ["job-1", "job-2"]
    assert [b.name for b in fresh.list("alice")] == ["Shared, renamed", "Second"]


def test_a_malformed_document_starts_empty(tmp_path):
    (tmp_path / "boards.json").write_text('{"alice": {"not-an-id": {"name": "x"}, "b0123456789ab": 5}}')
    assert Boards(LocalDocuments(tmp_path)).list("alice") == []


def test_parse_day_reads_utc_days_and_refuses_other_text():
    assert parse_day("2026-11-02") == dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc).timestamp()
    assert parse_day("2026-11-02", end=True) - parse_day("2026-11-02") == DAY
    assert parse_day("") is None and parse_day(None) is None
    with pytest.raises(SearchRefused, match="YYYY-MM-DD"):
        parse_day("last tuesday")


# --- the Studio: views, search, bulk actions over real records -------------------------------------------


@pytest.fixture()
def studio(tmp_path):
    built = build_studio(Settings.from_env({"AKOOL_CACHE_DIR": str(tmp_path / "cache"), **FAST_DEMO}), start=False)
    try:
        yield built.studio
    finally:
        built.close()


def _job(n: int) -> str:
    return f"{n:024x}"


def _put(studio, n: int, *, days_ago: float = 0.0, **request) -> JobRecord:
    request = {"prompt": f"prompt {n}", **request}
    record = JobRecord.create(_job(n), OWNER, request=request, state=RecordState.SUCCEEDED, now=T0 - days_ago * DAY - n)
    return studio.store.put(record)


def _all_pages(studio, limit: int, **kwargs) -> list[str]:
    ids, cursor = [], None
    for _ in range(100):
        page = studio.history(OWNER, cursor=cursor, limit=limit, **kwargs)
        assert len(page.items) <= limit
        ids += [r.id for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("paging never ended")


def test_each_field_filters_the_history_and_pages_exactly(studio):
    for n in range(1, 21):
        _put(studio, n, negative_prompt="blurry text" if n % 2 else "", scale="16:9" if n % 3 == 0 else "1:1",
             resolution="4k" if n % 4 == 0 else "1080p",
             model_name="wavespeed-ai/flux-krea-dev-lora" if n % 5 == 0 else None)
    newest_first = [_job(n) for n in range(1, 21)]
    cases = {
        HistoryFilter(negative_prompt="BLURRY"): [j for n, j in enumerate(newest_first, 1) if n % 2],
        HistoryFilter(scale="16:9"): [j for n, j in enumerate(newest_first, 1) if n % 3 == 0],
        HistoryFilter(resolution="4k"): [j for n, j in enumerate(newest_first, 1) if n % 4 == 0],
        HistoryFilter(model="wavespeed-ai/flux-krea-dev-lora"): [j for n, j in enumerate(newest_first, 1) if n % 5 == 0],
        HistoryFilter(model="Auto"): [j for n, j in enumerate(newest_first, 1) if n % 5],
        HistoryFilter(scale="1:1", resolution="4k"): [j for n, j in enumerate(newest_first, 1) if n % 4 == 0 and n % 3],
    }
    for filters, expected in cases.items():
        for limit in (1, 3, 7, 50):
            assert _all_pages(studio, limit, filters=filters) == expected, (filters, limit)
    # the prompt still goes to the store's index, and combines with the fields
    assert _all_pages(studio, 2, query="prompt 1", filters=HistoryFilter(negative_prompt="blurry")) == [
        _job(n) for n in (1, 11, 13, 15, 17, 19)]


def test_dates_filter_by_day_and_a_from_date_ends_the_scan(studio, monkeypatch):
    for n in range(1, 5):
        _put(studio, n, days_ago=0)
        _put(studio, 10 + n, days_ago=3)
        _put(studio, 20 + n, days_ago=10)
    three_days_ago = dt.datetime.fromtimestamp(T0 - 3 * DAY, dt.timezone.utc).date().isoformat()
    that_day = HistoryFilter(date_from=parse_day(three_days_ago), date_to=parse_day(three_days_ago, end=True))
    assert _all_pages(studio, 3, filters=that_day) == [_job(10 + n) for n in range(1, 5)]
    assert _all_pages(studio, 2, filters=HistoryFilter(date_to=T0 - 5 * DAY)) == [_job(20 + n) for n in range(1, 5)]
    fetched = []
    real = studio.tracker.history
    monkeypatch.setattr(studio.tracker, "history", lambda *a, **k: fetched.append(k["limit"]) or real(*a, **k))
    page = studio.history(OWNER, limit=10, filters=HistoryFilter(date_from=T0 - DAY))
    assert [r.id for r in page.items] == [_job(n) for n in range(1, 5)] and page.next_cursor is None
    assert sum(fetched) <= 10  # stopped at the first older job, not read to the end


def test_a_rare_match_comes_back_in_bounded_short_pages_that_still_reach_it(studio, monkeypatch):
    monkeypatch.setattr(search_module, "MAX_SCANNED", 5)
    for n in range(1, 13):
        _put(studio, n, scale="9:16" if n == 12 else "1:1")
    first = studio.history(OWNER, limit=4, filters=HistoryFilter(scale="9:16"))
    assert first.items == [] and first.next_cursor is not None  # looked at 5+, found nothing yet: more to see
    assert _all_pages(studio, 4, filters=HistoryFilter(scale="9:16")) == [_job(12)]


def test_views_favourites_and_boards_page_and_drop_deleted_jobs(studio):
    for n in range(1, 11):
        _put(studio, n)
    board = studio.create_board(OWNER, "Picks")
    assert studio.add_to_board(OWNER, board.id, [_job(n) for n in (2, 5, 7, 9)] + [_job(99)]) == 4  # 99: not theirs
    assert studio.favourite_many(OWNER, [_job(3), _job(5)]) == 2
    assert _all_pages(studio, 3, view=board.id) == [_job(n) for n in (2, 5, 7, 9)]
    assert _all_pages(studio, 1, view="favourites") == [_job(3), _job(5)]
    assert _all_pages(studio, 3, view=board.id, filters=HistoryFilter(negative_prompt="x")) == []
    assert len(_all_pages(studio, 4, view="all")) == 10
    # delete with undo: gone from the board at once, back with undo, gone for good after the undo period
    assert studio.delete_many(OWNER, [_job(5), _job(7), _job(99)]) == [_job(5), _job(7)]
    assert _all_pages(studio, 3, view=board.id) == [_job(2), _job(9)]
    assert studio.board_jobs(OWNER, board.id) == [_job(9), _job(2)]
    assert studio.undo_delete_many(OWNER, [_job(5)]) == [_job(5)]
    assert studio.board_jobs(OWNER, board.id) == [_job(9), _job(5), _job(2)]
    studio.trash.flush()  # the undo period of job 7 ends: it is deleted for good
    assert studio.get(_job(7), OWNER) is None
    assert _all_pages(studio, 3, view=board.id) == [_job(2), _job(5), _job(9)]
    # deleting the board deletes no job
    assert studio.delete_board(OWNER, board.id)
    assert len(_all_pages(studio, 20)) == 9
    with pytest.raises(BoardRefused, match="no longer exists"):
        studio.history(OWNER, view=board.id)
    with pytest.raises(BoardRefused, match="at most 100"):
        studio.delete_many(OWNER, [_job(n) for n in range(200)])


def test_the_pages_filter_values_become_a_history_filter():
    import time

    from akool_ui.ui.handlers.boards import history_filter

    assert history_filter(model="Any", scale="Any", resolution="Any", when="Any time").is_empty
    week = history_filter(when="Last 7 days", date_from="2000-01-01", scale="16:9", model="Auto")
    assert abs(week.date_from - (time.time() - 7 * DAY)) < 60  # the later of the two starts
    assert (week.scale, week.model, week.date_to) == ("16:9", "Auto", None)
    days = history_filter(date_from="2026-11-02", date_to="2026-11-02")
    assert days.date_to - days.date_from == DAY  # both days included
    with pytest.raises(SearchRefused):
        history_filter(date_to="02/11/2026")
