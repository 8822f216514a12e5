"""Fair eviction on a real cache directory: per-owner quotas, fair shares, a minimum age, never a stranger's.

Every image here is the same incompressible PNG, so sizes are counted in "images" (``UNIT`` bytes each).
Time is a FakeTime clock handed to the store: no test sleeps.
"""

from __future__ import annotations

import logging

import pytest

from akool_ui.jobs import ImageState, RecordState, lifecycle
from akool_ui.adapters.local.store import JobStore
from akool_ui.service.results.storing import DEFAULT_MIN_AGE_SECONDS, SizeLimits
from akool_ui.settings import Settings
from tests.client_helpers import FakeTime
from tests.test_store import ALICE, BOB, jid, make, noise_png
from tests.store_helpers import StoreWithFiles, tracker_on

CAROL = "owner-carol-hmac-0003"
DATA = noise_png()
UNIT = len(DATA)
HOUR = 3600.0
NOW = 1_000_000.0


@pytest.fixture()
def time_():
    return FakeTime(start=NOW)


def open_store(tmp_path, time_: FakeTime, *, limit: float = 100, owner_limit: float | None = None,
               min_age: float = HOUR) -> JobStore:
    """A store whose limits are counted in images."""
    return StoreWithFiles(tmp_path / "cache", limit_bytes=int(limit * UNIT),
                    owner_limit_bytes=None if owner_limit is None else int(owner_limit * UNIT),
                    min_age_seconds=min_age, clock=time_.clock)


def finished(store: JobStore, n: int, owner: str, done_at: float) -> None:
    """Job ``n`` of ``owner``: its one image is stored while downloading, then it succeeds at ``done_at``."""
    make(store, n, owner, created=done_at - 30, state=RecordState.DOWNLOADING)
    store.store_original(jid(n), 0, DATA)
    store.update(jid(n), lambda r: r.set_state(RecordState.SUCCEEDED, at=done_at))


def stored(store: JobStore, *ns: int) -> set[int]:
    """Which of the jobs still have their original, checked on disk as well as in the record."""
    kept = {n for n in ns if store.get(jid(n)).images[0].state is ImageState.STORED}
    assert kept == {n for n in ns if store.image_path(jid(n), 0, "png").is_file()}
    return kept


# --- a stranger's burst ------------------------------------------------------------------------------


def test_a_strangers_burst_of_young_jobs_never_evicts_another_owners_originals(tmp_path, time_, caplog):
    caplog.set_level(logging.INFO, logger="akool_ui.service.results")
    store = open_store(tmp_path, time_, limit=4)
    finished(store, 1, ALICE, done_at=NOW - 10 * HOUR)  # the oldest in the store: first to go, before
    finished(store, 2, ALICE, done_at=NOW - 9 * HOUR)
    for n in range(10, 15):  # Bob's burst: five results, just finished
        time_.sleep(60)
        finished(store, n, BOB, done_at=time_.now)

    assert stored(store, 1, 2) == {1, 2}, "Alice is within her fair share: her originals stay"
    assert stored(store, *range(10, 15)) == set(range(10, 15)), "Bob's are too young to evict"
    assert store.original_bytes() == 7 * UNIT, "over the limit for a while"
    stuck = [r for r in caplog.records if "over its limit" in r.getMessage()]
    assert len(stuck) == 1 and stuck[0].levelno == logging.INFO, "said once, not once per stored image"
    assert ALICE not in caplog.text and BOB not in caplog.text

    time_.sleep(HOUR)  # Bob's burst has aged: now it pays for itself, oldest first
    freed = store.enforce_limit()

    assert freed == 3 * UNIT and store.original_bytes() == 4 * UNIT
    assert stored(store, 1, 2, *range(10, 15)) == {1, 2, 13, 14}


def test_the_limit_takes_from_the_heaviest_owner_above_fair_share_first(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100)
    finished(store, 1, ALICE, done_at=NOW - 50 * HOUR)  # 1 image: under her fair share
    for n in (10, 11, 12):  # Bob: 3 images, above the fair share but not the heaviest; older than Carol's
        finished(store, n, BOB, done_at=NOW - (40 - n) * HOUR)
    for n in (20, 21, 22, 23, 24):  # Carol: 5 images, the heaviest
        finished(store, n, CAROL, done_at=NOW - (30 - n) * HOUR)
    store.limit_bytes = 7 * UNIT  # 9 stored, fair share 7/3 each

    assert store.enforce_limit() == 2 * UNIT

    assert stored(store, 1) == {1}
    assert stored(store, 10, 11, 12) == {10, 11, 12}, "Bob's older jobs stay: Carol is heavier"
    assert stored(store, 20, 21, 22, 23, 24) == {22, 23, 24}, "Carol's oldest two went"


def test_the_limit_levels_owners_down_to_their_fair_share_then_stops(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100)
    for n in (10, 11, 12, 13):
        finished(store, n, BOB, done_at=NOW - (40 - n) * HOUR)
    for n in (20, 21, 22, 23):
        finished(store, n, CAROL, done_at=NOW - (30 - n) * HOUR)
    finished(store, 1, ALICE, done_at=NOW - 2 * HOUR)
    store.limit_bytes = 3 * UNIT  # 9 stored; fair share 1 each

    store.enforce_limit()

    # Bob and Carol each come down to 1, alternating as the heavier one; Alice (at her share) keeps hers.
    assert stored(store, 1, 10, 11, 12, 13, 20, 21, 22, 23) == {1, 13, 23}
    assert store.original_bytes() == 3 * UNIT


def test_when_the_heaviest_owner_has_only_young_jobs_the_next_above_fair_share_pays(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100)
    finished(store, 1, ALICE, done_at=NOW - 20 * HOUR)  # the oldest, but within her share
    for n in (10, 11, 12):
        finished(store, n, BOB, done_at=NOW - (15 - n) * HOUR)
    for n in (20, 21, 22, 23):
        finished(store, n, CAROL, done_at=NOW - 60 * (30 - n))  # minutes ago
    store.limit_bytes = 6 * UNIT  # 8 stored, fair share 2

    assert store.enforce_limit() == UNIT
    assert stored(store, 1, 10, 11, 12, 20, 21, 22, 23) == {1, 11, 12, 20, 21, 22, 23}
    assert store.original_bytes() == 7 * UNIT, "Bob is at his share now; Carol's jobs wait to age"


# --- the owner's quota ----------------------------------------------------------------------------------


def test_the_owner_quota_trims_only_that_owners_oldest(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100, owner_limit=2)
    finished(store, 1, BOB, done_at=NOW - 30 * HOUR)  # older than all of Alice's: untouched anyway
    finished(store, 2, BOB, done_at=NOW - 29 * HOUR)
    finished(store, 3, ALICE, done_at=NOW - 5 * HOUR)  # created before 4, finished after it
    finished(store, 4, ALICE, done_at=NOW - 6 * HOUR)
    store.update(jid(3), lambda r: setattr(r, "created_at", NOW - 7 * HOUR))
    assert stored(store, 1, 2, 3, 4) == {1, 2, 3, 4}

    finished(store, 5, ALICE, done_at=NOW - 2 * HOUR)  # Alice's third image: over her quota of two

    assert stored(store, 1, 2) == {1, 2}
    assert stored(store, 3, 4, 5) == {3, 5}, "her oldest by completion time went"
    assert store.original_bytes() == 4 * UNIT


def test_the_owner_quota_waits_for_the_min_age_too(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100, owner_limit=1)
    finished(store, 1, ALICE, done_at=NOW - 30 * 60)
    finished(store, 2, ALICE, done_at=NOW - 10 * 60)
    assert stored(store, 1, 2) == {1, 2}

    time_.sleep(30 * 60)  # job 1 is exactly an hour old now, job 2 forty minutes
    finished(store, 3, ALICE, done_at=time_.now)

    assert stored(store, 1, 2, 3) == {2, 3}


# --- what is never evicted -----------------------------------------------------------------------------


def test_nothing_younger_than_the_min_age_is_evicted(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100)
    finished(store, 1, ALICE, done_at=NOW - 2 * HOUR)
    finished(store, 2, ALICE, done_at=NOW - HOUR)  # exactly the min age: old enough
    finished(store, 3, ALICE, done_at=NOW - HOUR + 1)  # one second short
    finished(store, 4, ALICE, done_at=NOW - 60)
    store.limit_bytes = 0

    assert store.enforce_limit() == 2 * UNIT
    assert stored(store, 1, 2, 3, 4) == {3, 4}
    assert store.enforce_limit() == 0

    time_.sleep(1)
    assert store.enforce_limit() == UNIT
    assert stored(store, 3, 4) == {4}


def test_in_flight_jobs_and_kept_ids_are_never_evicted(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100, owner_limit=100)
    make(store, 1, ALICE, created=NOW - 50 * HOUR, state=RecordState.DOWNLOADING)  # the oldest, still downloading
    store.update(jid(1), lambda r: lifecycle.set_remote_urls(r, ["https://cdn/a.png", "https://cdn/b.png"]))
    store.store_original(jid(1), 0, DATA)
    finished(store, 2, ALICE, done_at=NOW - 40 * HOUR)  # kept by the caller
    finished(store, 3, ALICE, done_at=NOW - 30 * HOUR)
    finished(store, 4, BOB, done_at=NOW - 45 * HOUR)  # Bob's, kept by the caller
    store.limit_bytes = store.owner_limit_bytes = 0

    assert store.enforce_limit(keep=[jid(2), jid(4)], owner=ALICE) == UNIT
    assert stored(store, 1, 2, 3, 4) == {1, 2, 4}
    assert store.get(jid(1)).needs_work


def test_eviction_keeps_records_previews_and_the_running_total(tmp_path, time_):
    store = open_store(tmp_path, time_, limit=100)
    finished(store, 1, ALICE, done_at=NOW - 3 * HOUR)
    finished(store, 2, ALICE, done_at=NOW - 2 * HOUR)
    store.limit_bytes = UNIT

    assert store.enforce_limit() == UNIT

    entry = store.get(jid(1)).images[0]
    assert entry.state is ImageState.EVICTED and entry.original is None
    assert entry.preview and store.local_path(entry.preview).is_file()
    assert [r.id for r in store.list_jobs(ALICE)] == [jid(2), jid(1)]
    assert store.original_bytes() == UNIT == store._index.total_bytes()


# --- settings ------------------------------------------------------------------------------------------


def test_from_settings_passes_the_owner_quota_and_min_age(tmp_path):
    local = Settings(cache_dir=tmp_path / "a", cache_limit_gb=1.0)
    shared = Settings(cache_dir=tmp_path / "b", cache_limit_gb=1.0, public_url="https://studio.example.org")
    explicit = Settings(cache_dir=tmp_path / "c", cache_limit_gb=1.0, public_url="https://studio.example.org",
                        cache_owner_limit_gb=0.5, cache_min_age_hours=0.25)
    limits = SizeLimits.from_settings(local)
    assert (limits.owner_quota_bytes, limits.min_age_seconds) == (2**30, DEFAULT_MIN_AGE_SECONDS)
    assert SizeLimits.from_settings(shared).owner_quota_bytes == 2**28, "a shared app: one owner gets a quarter"
    limits = SizeLimits.from_settings(explicit)
    assert (limits.owner_quota_bytes, limits.min_age_seconds) == (2**29, 900.0)


def test_the_new_variables_are_read_from_the_environment():
    assert Settings.from_env({}).owner_cache_limit_gb == 5.0
    assert Settings.from_env({"AKOOL_PUBLIC_URL": "https://studio.example.org"}).owner_cache_limit_gb == 1.25
    assert Settings.from_env({"SPACE_HOST": "me-studio.hf.space"}).owner_cache_limit_gb == 1.25
    settings = Settings.from_env({"AKOOL_CACHE_LIMIT_GB": "8", "AKOOL_CACHE_OWNER_LIMIT_GB": "3",
                                  "AKOOL_CACHE_MIN_AGE_HOURS": "0"})
    assert (settings.owner_cache_limit_gb, settings.cache_min_age_hours) == (3.0, 0.0)
    assert Settings.from_env({}).cache_min_age_hours == 1.0
