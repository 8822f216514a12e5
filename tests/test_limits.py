"""Spending limits on a shared app: images per visitor per hour, jobs in flight, the app's daily credit
budget and the upload budgets — refused before anything reaches Akool, counted under the browser and the
(hashed) client address, kept across restarts, and never applied to a visitor's own key."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from akool_ui.akool.client import AkoolClient
from akool_ui.akool.errors import InvalidRequest, OutcomeUnknown
from akool_ui.akool.models import ImageRequest
from akool_ui.jobs import JobRecord
from akool_ui.service.clients import ClientPool
from akool_ui.service.limits import LEDGER_FILE, LimitReached, SpendingLimiter, address_bucket
from akool_ui.service.store import JobStore
from akool_ui.service.studio import Studio
from akool_ui.service.uploads import UploadStore
from akool_ui.settings import Limits, Settings
from tests.conftest import API_KEY, OTHER_API_KEY

# 13:05 UTC on a fixed day: the reset times in the sentences are exact.
T0 = dt.datetime(2025, 3, 1, 13, 5, tzinfo=dt.timezone.utc).timestamp()
BROWSER = "browser-one-0123456789ab"
OTHER_BROWSER = "browser-two-0123456789ab"
ADDRESS = "203.0.113.7"
JOB_IDS = [f"{i:024x}" for i in range(1, 200)]


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _records(n: int, *, credits: int | None = None, kind: str = "generate", start: int = 0) -> list[JobRecord]:
    records = []
    for i in range(n):
        if kind == "button":
            record = JobRecord.create(JOB_IDS[start + i], "bowner", kind="button", parent_id=JOB_IDS[-1], button="U1")
        else:
            record = JobRecord.create(JOB_IDS[start + i], "bowner", request={"prompt": "x"})
        record.credits = credits
        records.append(record)
    return records


def _limiter(tmp_path: Path | None = None, clock: Clock | None = None, **limits) -> SpendingLimiter:
    return SpendingLimiter(
        Limits(**limits), path=tmp_path / LEDGER_FILE if tmp_path else None, address_key=b"k" * 32,
        clock=clock or Clock(),
    )


def _spend(limiter: SpendingLimiter, visitor, n: int, **record_kw) -> None:
    hold = limiter.check(visitor, n)
    limiter.record(hold, _records(n, **record_kw))


# --- the limiter alone ---------------------------------------------------------------------------------


def test_images_per_hour_are_refused_with_the_reset_time_and_come_back_after_an_hour():
    clock = Clock()
    limiter = _limiter(clock=clock, images_per_hour=3)
    visitor = limiter.visitor("bowner", ADDRESS)
    _spend(limiter, visitor, 1)
    clock.advance(600)  # 13:15
    _spend(limiter, visitor, 2)
    with pytest.raises(LimitReached) as refused:
        limiter.check(visitor, 1)
    assert refused.value.user_message == (
        "You have made 3 images in the last hour on this app's account; you can make more at 14:05 UTC, "
        "or enter your own Akool API key."
    )
    clock.advance(3000 - 1)  # 14:04:59: the first image is not an hour old yet
    with pytest.raises(LimitReached):
        limiter.check(visitor, 1)
    clock.advance(1)  # 14:05:00: the first image has aged out, so one more fits, but not two
    limiter.release(limiter.check(visitor, 1))
    with pytest.raises(LimitReached, match=r"You can make 1 more image this hour .* wait until 14:15 UTC"):
        limiter.check(visitor, 2)
    clock.advance(600)
    _spend(limiter, visitor, 3)


def test_a_batch_larger_than_the_limit_says_so_instead_of_a_reset_time():
    limiter = _limiter(images_per_hour=2)
    with pytest.raises(LimitReached, match="each visitor make 2 images an hour on its account; choose fewer"):
        limiter.check(limiter.visitor("bowner"), 4)


def test_the_daily_credit_budget_counts_akools_deduction_or_the_estimate_and_resets_at_utc_midnight():
    clock = Clock(dt.datetime(2025, 3, 1, 23, 40, tzinfo=dt.timezone.utc).timestamp())
    limiter = _limiter(clock=clock, daily_credits=10)
    a, b = limiter.visitor("bfirst", "198.51.100.1"), limiter.visitor("bsecond", "198.51.100.2")
    _spend(limiter, a, 2, credits=3)  # Akool said 3 each: 6
    hold = limiter.check(b, 1, credits=2)
    assert limiter.record(hold, _records(1, kind="button", start=5)) == 2  # unknown: 2 per press
    assert limiter.usage(a)["credits_today"] == 8
    with pytest.raises(LimitReached) as refused:  # the budget is the whole app's, whoever asks
        limiter.check(limiter.visitor("bthird", "198.51.100.3"), 4)
    assert refused.value.user_message == (
        "This app has 2 credits left for today on its Akool account; choose fewer images, wait until "
        "00:00 UTC tomorrow, or enter your own Akool API key."
    )
    _spend(limiter, b, 2)  # exactly the rest (estimated 1 per image)
    with pytest.raises(LimitReached, match="This app has spent its 10 credits for today .* at 00:00 UTC tomorrow"):
        limiter.check(b, 1)
    clock.advance(20 * 60)  # 00:00 UTC: a new day
    assert limiter.usage(a)["credits_today"] == 0
    _spend(limiter, a, 4)


def test_jobs_in_flight_count_until_they_finish():
    running: set[str] = set()
    limiter = SpendingLimiter(Limits(jobs_in_flight=2), clock=Clock(), job_in_flight=running.__contains__)
    visitor = limiter.visitor("bowner", ADDRESS)
    records = _records(2)
    running.update(r.id for r in records)
    limiter.record(limiter.check(visitor, 2), records)
    with pytest.raises(LimitReached) as refused:
        limiter.check(visitor, 1)
    assert refused.value.user_message == (
        "You already have 2 images in the making on this app's account; wait for one to finish, or enter "
        "your own Akool API key."
    )
    running.discard(records[0].id)
    limiter.release(limiter.check(visitor, 1))
    with pytest.raises(LimitReached, match="already have 1 image in the making .* may have 2 at once"):
        limiter.check(visitor, 2)


def test_a_check_holds_its_images_until_recorded_or_released():
    """Two presses at the same instant: the second sees the first's reservation, not an empty hour."""
    limiter = _limiter(images_per_hour=1, jobs_in_flight=1)
    visitor = limiter.visitor("bowner")
    hold = limiter.check(visitor, 1)
    with pytest.raises(LimitReached):
        limiter.check(visitor, 1)
    limiter.release(hold)  # nothing was sent
    limiter.release(limiter.check(visitor, 1))


def test_a_new_browser_id_from_the_same_address_is_still_limited_and_the_address_is_never_stored(tmp_path):
    limiter = _limiter(tmp_path, images_per_hour=2)
    _spend(limiter, limiter.visitor("bfirst", ADDRESS), 2)
    with pytest.raises(LimitReached):  # storage cleared: a new browser id, the same address
        limiter.check(limiter.visitor("bcleared", ADDRESS), 1)
    with pytest.raises(LimitReached):  # the same browser from another network
        limiter.check(limiter.visitor("bfirst", "198.51.100.9"), 1)
    limiter.release(limiter.check(limiter.visitor("bsomeone", "198.51.100.9"), 1))
    ledger = (tmp_path / LEDGER_FILE).read_text()
    assert ADDRESS not in ledger and "203" not in ledger
    assert oct((tmp_path / LEDGER_FILE).stat().st_mode & 0o777) == "0o600"


def test_an_ipv6_visitor_is_one_slash_64():
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("[2001:db8:1:2:bbbb::9]") == "2001:db8:1:2::/64"
    assert address_bucket("::ffff:203.0.113.7") == "203.0.113.7"
    limiter = _limiter(images_per_hour=1)
    _spend(limiter, limiter.visitor("bfirst", "2001:db8:1:2::1"), 1)
    with pytest.raises(LimitReached):
        limiter.check(limiter.visitor("bsecond", "2001:db8:1:2:ffff::1"), 1)
    limiter.release(limiter.check(limiter.visitor("bthird", "2001:db8:1:3::1"), 1))


def test_usage_survives_a_restart_and_a_broken_ledger_starts_from_zero(tmp_path, caplog):
    clock = Clock()
    first = _limiter(tmp_path, clock, images_per_hour=2, daily_credits=100, upload_mb_per_visitor=1)
    visitor = first.visitor("bowner", ADDRESS)
    _spend(first, visitor, 2, credits=5)
    first.record_upload(visitor, 2**20)
    again = _limiter(tmp_path, clock, images_per_hour=2, daily_credits=100, upload_mb_per_visitor=1)
    assert again.usage(visitor) == {"images_last_hour": 2, "in_flight": 0, "credits_today": 10}
    with pytest.raises(LimitReached):
        again.check(again.visitor("bcleared", ADDRESS), 1)
    with pytest.raises(LimitReached):
        again.check_upload(visitor, 10)
    (tmp_path / LEDGER_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        fresh = _limiter(tmp_path, clock, images_per_hour=2)
    assert "counting from zero" in caplog.text
    assert fresh.usage(visitor)["images_last_hour"] == 0


def test_the_upload_budget_per_visitor_rolls_over_24_hours():
    clock = Clock()
    limiter = _limiter(clock=clock, upload_mb_per_visitor=2)
    visitor = limiter.visitor("bowner", ADDRESS)
    limiter.check_upload(visitor, 2**20)
    limiter.record_upload(visitor, 2**20)
    clock.advance(3600)
    limiter.record_upload(visitor, 2**20)
    with pytest.raises(LimitReached) as refused:
        limiter.check_upload(limiter.visitor("bcleared", ADDRESS), 100)
    assert refused.value.user_message == (
        "You have uploaded 2 MB of source images in the last 24 hours on this app; you can upload more at "
        "13:05 UTC tomorrow, or paste a public image URL instead."
    )
    with pytest.raises(LimitReached, match="larger than the 2 MB"):
        limiter.check_upload(limiter.visitor("bnew", "198.51.100.4"), 3 * 2**20)
    clock.advance(23 * 3600)
    limiter.check_upload(visitor, 2**20)  # the first upload has aged out


def test_no_limits_no_refusals_and_no_ledger(tmp_path):
    limiter = _limiter(tmp_path)
    visitor = limiter.visitor("bowner", ADDRESS)
    assert not limiter.limits_spending
    limiter.check_upload(visitor, 10**9)
    limiter.record_upload(visitor, 10**9)
    assert not (tmp_path / LEDGER_FILE).exists()


# --- the client address a page handler passes down -------------------------------------------------------


def _request(peer: str, forwarded: str | None = None):
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=headers)


def test_the_client_address_is_the_peer_or_the_nearest_public_forwarded_hop():
    from akool_ui.ui.handlers.common import client_address

    assert client_address(None) is None
    visitor, other = "93.184.216.34", "8.8.4.4"  # public addresses (documentation ranges are not "global")
    assert client_address(_request(visitor, other)) == visitor  # a public peer is the visitor
    # a hosting proxy on a private network (Spaces): the visitor is the proxy's rightmost public entry; what the
    # client wrote to the left of it is ignored
    assert client_address(_request("10.16.3.80", f"{other}, {visitor}, 10.0.0.5")) == visitor
    assert client_address(_request("10.16.3.80", "192.168.1.20")) == "192.168.1.20"
    assert client_address(_request("192.168.1.20")) == "192.168.1.20"  # a LAN visitor
    assert client_address(_request("127.0.0.1")) is None  # a tunnel: everyone at once, so nobody
    assert client_address(_request("testclient")) is None


# --- through the Studio, against the simulator over HTTP ---------------------------------------------------


def _studio(cache: Path, simulator, clock: Clock, **limits: float) -> Studio:
    overrides = {"images_per_hour": 0, "jobs_in_flight": 0, "daily_credits": 0, "upload_mb_per_visitor": 0,
                 "uploads_gb_total": 0, **limits}
    settings = Settings(api_key=API_KEY, base_url=simulator.base_url, base_url_from_env=True, cache_dir=cache,
                        shared=True, limit_overrides=overrides, poll_interval=0.05)
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=API_KEY),
                         make=lambda key: AkoolClient(simulator.base_url, api_key=key))
    return Studio(settings, store=JobStore(cache), clients=clients, uploads=UploadStore(cache / "uploads"), clock=clock)


def _creates(simulator) -> int:
    return simulator.sim.stats()["creates"]


def _request_for(prompt: str = "A red kite", batch: int = 1) -> ImageRequest:
    return ImageRequest(prompt=prompt, batch_quantity=batch)


def _wait_final(studio: Studio, records: list[JobRecord], timeout: float = 20.0) -> list[JobRecord]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = [studio.get(r.id, r.owner) for r in records]
        if all(r is not None and r.is_final for r in now):
            return now
        time.sleep(0.05)
    raise AssertionError("jobs did not finish")


def test_a_refused_generate_or_press_sends_nothing_to_akool(tmp_path, simulator):
    clock = Clock()
    studio = _studio(tmp_path, simulator, clock, images_per_hour=2)
    try:
        owner = studio.owner_for(None, BROWSER)
        made = studio.submit(_request_for(batch=2), api_key=None, owner=owner, client_address=ADDRESS)
        (parent,) = _wait_final(studio, made[:1])
        before = _creates(simulator)
        with pytest.raises(LimitReached, match="You have made 2 images in the last hour"):
            studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
        with pytest.raises(LimitReached, match="You have made 2 images in the last hour"):
            studio.press(parent.id, "U1", api_key=None, owner=owner, client_address=ADDRESS)
        # storage cleared: a new browser id from the same address is the same visitor
        cleared = studio.owner_for(None, OTHER_BROWSER)
        with pytest.raises(LimitReached):
            studio.submit(_request_for(), api_key=None, owner=cleared, client_address=ADDRESS)
        assert _creates(simulator) == before
        assert "U1" not in studio.get(parent.id, owner).used_buttons
        # an hour later it is allowed again, and a press counts as one image
        clock.advance(3600)
        child = studio.press(parent.id, "U1", api_key=None, owner=owner, client_address=ADDRESS)
        assert child.parent_id == parent.id and _creates(simulator) == before + 1
    finally:
        studio.close()


def test_a_visitor_with_their_own_key_is_limited_only_by_their_account(tmp_path, simulator):
    studio = _studio(tmp_path, simulator, Clock(), images_per_hour=1, jobs_in_flight=1, daily_credits=1)
    try:
        shared_owner = studio.owner_for(None, BROWSER)
        studio.submit(_request_for(), api_key=None, owner=shared_owner, client_address=ADDRESS)
        with pytest.raises(LimitReached):
            studio.submit(_request_for(), api_key=None, owner=shared_owner, client_address=ADDRESS)
        own = studio.owner_for(OTHER_API_KEY, None)
        before = _creates(simulator)
        for _ in range(3):  # same browser, same address, their own key: not this app's credits
            studio.submit(_request_for(batch=2), api_key=OTHER_API_KEY, owner=own, client_address=ADDRESS)
        assert _creates(simulator) == before + 6
    finally:
        studio.close()


def test_jobs_in_flight_are_counted_from_the_store_until_they_finish(tmp_path, simulator):
    studio = _studio(tmp_path, simulator, Clock(), jobs_in_flight=2)
    try:
        owner = studio.owner_for(None, BROWSER)
        simulator.sim.stuck_next(times=2)
        stuck = studio.submit(_request_for(batch=2), api_key=None, owner=owner, client_address=ADDRESS)
        before = _creates(simulator)
        with pytest.raises(LimitReached, match="You already have 2 images in the making"):
            studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
        assert _creates(simulator) == before
        studio.stop(stuck[0].id, owner=owner)  # no longer in flight (Akool has no cancel; we stop watching)
        studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
    finally:
        studio.close()


def test_an_akool_refusal_spends_nothing_but_a_lost_answer_counts(tmp_path, simulator):
    studio = _studio(tmp_path, simulator, Clock(), images_per_hour=1)
    try:
        owner = studio.owner_for(None, BROWSER)
        simulator.sim.fail_next(code=1003, kinds=("create_v4",))
        with pytest.raises(InvalidRequest):
            studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
        visitor = studio.visitor(owner, ADDRESS)
        assert studio.limiter.usage(visitor)["images_last_hour"] == 0
        simulator.sim.drop_connection(kinds=("create_v4",))  # Akool made the job; the answer never came
        with pytest.raises(OutcomeUnknown):
            studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
        assert studio.limiter.usage(visitor)["images_last_hour"] == 1
    finally:
        studio.close()


def test_the_count_survives_restarting_the_app(tmp_path, simulator):
    clock = Clock()
    studio = _studio(tmp_path, simulator, clock, images_per_hour=1, daily_credits=50)
    try:
        studio.submit(_request_for(), api_key=None, owner=studio.owner_for(None, BROWSER), client_address=ADDRESS)
    finally:
        studio.close()
    restarted = _studio(tmp_path, simulator, clock, images_per_hour=1, daily_credits=50)
    try:
        before = _creates(simulator)
        with pytest.raises(LimitReached, match="you can make more at 14:05 UTC"):
            restarted.submit(_request_for(), api_key=None, owner=restarted.owner_for(None, OTHER_BROWSER),
                             client_address=ADDRESS)
        assert _creates(simulator) == before
        assert restarted.limiter.usage(restarted.visitor("bnobody"))["credits_today"] == 1  # Akool's deduction
    finally:
        restarted.close()


# --- uploads -----------------------------------------------------------------------------------------------


def _png(path: Path, size: int = 256, seed: int = 0) -> Path:
    image = Image.effect_noise((size, size), 60 + seed).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def test_each_visitor_has_an_upload_budget_and_the_folder_a_total(tmp_path, simulator):
    studio = _studio(tmp_path / "cache", simulator, Clock(), upload_mb_per_visitor=1)
    source = _png(tmp_path / "source.png", 400)  # ~480 KB of noise: two fit in 1 MB, three do not
    assert 300_000 < source.stat().st_size < 520_000
    try:
        owner = studio.owner_for(None, BROWSER)
        for _ in range(2):
            studio.add_upload(source, owner=owner, client_address=ADDRESS)
        stored = len(list(studio.uploads.root.iterdir()))
        with pytest.raises(LimitReached, match="past 1 MB of source uploads in 24 hours"):
            studio.add_upload(source, owner=studio.owner_for(None, OTHER_BROWSER), client_address=ADDRESS)
        assert len(list(studio.uploads.root.iterdir())) == stored  # refused before anything was written
        # a visitor with their own key takes this server's disk too: the same budget
        own = studio.owner_for(OTHER_API_KEY, None)
        studio.add_upload(source, owner=own, client_address="198.51.100.7")
    finally:
        studio.close()


def test_over_the_total_upload_budget_the_oldest_uploads_go_first(tmp_path):
    uploads = UploadStore(tmp_path / "uploads")
    made = []
    for i in range(4):
        upload = uploads._write(b"x" * 1000, "png")
        os.utime(upload.path, (1000 + i, 1000 + i))
        made.append(upload.path)
    assert uploads.total_bytes() == 4000
    assert uploads.prune_over(2500, keep=[made[0]]) == 2  # the oldest is kept (just written), then oldest first
    assert [p.exists() for p in made] == [True, False, False, True]
    assert uploads.total_bytes() <= 2500


def test_the_studio_keeps_uploads_within_the_total_budget(tmp_path, simulator):
    studio = _studio(tmp_path / "cache", simulator, Clock(), uploads_gb_total=1.5 * 2**20 / 2**30)  # 1.5 MB
    try:
        paths = []
        for seed in range(4):
            source = _png(tmp_path / f"s{seed}.png", 400, seed)
            upload = studio.add_upload(source, owner=studio.owner_for(None, f"browser-{seed}-0123456789ab"),
                                       client_address=f"198.51.100.{seed + 1}")
            paths.append(upload.path)
            time.sleep(0.01)  # distinct modification times
        assert paths[-1].exists() and not paths[0].exists()
        assert studio.uploads.total_bytes() <= 1.5 * 2**20
    finally:
        studio.close()


def test_the_ledger_is_small_json(tmp_path):
    limiter = _limiter(tmp_path, images_per_hour=5)
    _spend(limiter, limiter.visitor("bowner", ADDRESS), 2)
    data = json.loads((tmp_path / LEDGER_FILE).read_text())
    assert data["v"] == 1 and data["day"] == "2025-03-01" and data["day_credits"] == 2
    assert set(data["spends"]) == {"bowner", limiter.visitor("bowner", ADDRESS).address}
