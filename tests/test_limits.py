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

from akool_ui.adapters.local import LocalDocuments
from akool_ui.akool.client import AkoolClient
from akool_ui.akool.errors import InvalidRequest, OutcomeUnknown
from akool_ui.akool.models import ImageRequest
from akool_ui.jobs import JobRecord
from akool_ui.service.identity.clients import ClientPool
from akool_ui.service.quotas.limits import LimitReached, SpendingLimiter, address_bucket
from akool_ui.service.quotas.visitors import UNKNOWN_ADDRESS_KEY, ClientAddress, network_bucket
from akool_ui.adapters.local.store import JobStore
from akool_ui.bootstrap import assemble_studio
from akool_ui.service import Studio
from akool_ui.service.library.uploads import UploadStore
from akool_ui.settings import PRIVATE_NETWORKS, Limits, Settings
from tests.conftest import API_KEY, OTHER_API_KEY
from tests.store_helpers import StoreWithFiles, tracker_on
from akool_ui.adapters.local import LocalBlobs

# 13:05 UTC on a fixed day: the reset times in the sentences are exact.
T0 = dt.datetime(2025, 3, 1, 13, 5, tzinfo=dt.timezone.utc).timestamp()
BROWSER = "browser-one-0123456789ab"
OTHER_BROWSER = "browser-two-0123456789ab"
ADDRESS = "203.0.113.7"
JOB_IDS = [f"{i:024x}" for i in range(1, 200)]
LEDGER_FILE = "limits.json"  # the ledger document, as the local adapter keeps it


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
        Limits(**limits), documents=LocalDocuments(tmp_path) if tmp_path else None, address_key=b"k" * 32,
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
    assert "document 'limits' is damaged" in caplog.text  # read as absent: counting from zero
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


# --- whom a request is counted under -------------------------------------------------------------------


def test_with_no_trusted_proxy_the_client_address_is_the_peer_whatever_the_headers_say():
    addresses = ClientAddress(())
    visitor, other = "93.184.216.34", "8.8.4.4"
    assert addresses.of(None) is None
    assert addresses.of(visitor, [other]) == visitor
    # a caller on this machine (or behind a tunnel nobody configured) is loopback, not whoever it claims
    assert addresses.of("127.0.0.1", [other]) == "127.0.0.1"
    assert addresses.of("10.16.3.80", [f"{other}, {visitor}"]) == "10.16.3.80"
    assert addresses.of("::ffff:192.168.1.20") == "192.168.1.20"
    assert addresses.of("testclient") == "testclient"


def test_behind_trusted_proxies_the_client_is_the_nearest_hop_they_did_not_write_themselves():
    addresses = ClientAddress(PRIVATE_NETWORKS)  # as on a Space
    visitor, forged = "93.184.216.34", "8.8.4.4"
    # the platform's proxies append what they saw; whatever the client wrote further left is ignored
    assert addresses.of("10.16.3.80", [f"{forged}, {visitor}, 10.0.0.5"]) == visitor
    assert addresses.of("10.16.3.80", [forged, f"{visitor}:4431"]) == visitor  # repeated headers, a port
    assert addresses.of("10.16.3.80", ["[2001:db8::7]:443"]) == "2001:db8::7"
    assert addresses.of("10.16.3.80", ["192.168.1.20"]) == "10.16.3.80"  # every hop is the platform's
    assert addresses.of("10.16.3.80", []) == "10.16.3.80"
    assert addresses.of("10.16.3.80", ["not-an-address"]) is None  # nothing to go on: the shared key
    assert addresses.of(visitor, [forged]) == visitor  # not from a proxy: the headers are the client's own


def test_a_network_shares_a_larger_allowance_and_rotating_addresses_within_it_runs_into_it():
    limiter = _limiter(images_per_hour=2, network_images_per_hour=3)
    _spend(limiter, limiter.visitor("b1", "203.0.113.1"), 2)
    _spend(limiter, limiter.visitor("b2", "203.0.113.2"), 1)
    with pytest.raises(LimitReached) as info:  # a third address of the same /24
        limiter.check(limiter.visitor("b3", "203.0.113.3"), 1)
    assert "your network" in info.value.user_message
    limiter.release(limiter.check(limiter.visitor("b4", "203.0.114.3"), 1))  # the next /24 is someone else
    assert network_bucket("2001:db8:1:2::1") == network_bucket("2001:db8:1:ffff::1") == "2001:db8:1::/48"
    assert network_bucket("testclient") is None


def test_visitors_with_no_address_share_one_allowance_so_a_fresh_session_starts_with_nothing_new():
    limiter = _limiter(images_per_hour=2)
    _spend(limiter, limiter.visitor("bsession-one"), 2)
    with pytest.raises(LimitReached):
        limiter.check(limiter.visitor("bsession-two"), 1)
    assert limiter.visitor("bsession-two").keys[1] == UNKNOWN_ADDRESS_KEY


def test_the_app_wide_rate_refuses_a_burst_from_anyone_and_says_when_to_try_again():
    clock = Clock()
    limiter = _limiter(clock=clock, images_per_minute=8)
    for i in range(2):
        _spend(limiter, limiter.visitor(f"b{i}", f"198.51.{i}.9"), 4, start=4 * i)
    with pytest.raises(LimitReached) as info:
        limiter.check(limiter.visitor("bthird", "192.0.2.44"), 1)
    assert info.value.user_message == (
        "This app is making many images on its account right now (8 images a minute at most); try again in "
        "60 seconds, or enter your own Akool API key."
    )
    clock.advance(61)
    limiter.release(limiter.check(limiter.visitor("bthird", "192.0.2.44"), 4))


# --- through the Studio, against the simulator over HTTP ---------------------------------------------------


def _studio(cache: Path, simulator, clock: Clock, **limits: float) -> Studio:
    overrides = {"images_per_hour": 0, "jobs_in_flight": 0, "daily_credits": 0, "upload_mb_per_visitor": 0,
                 "uploads_gb_total": 0, **limits}
    settings = Settings(api_key=API_KEY, base_url=simulator.base_url, base_url_from_env=True, cache_dir=cache,
                        shared=True, limit_overrides=overrides, poll_interval=0.05)
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=API_KEY),
                         make=lambda key: AkoolClient(simulator.base_url, api_key=key))
    return assemble_studio(settings, store=StoreWithFiles(cache), clients=clients, uploads=UploadStore(LocalBlobs(cache)), clock=clock)


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
    # daily credits for one 1080p job (Akool charges 3)
    studio = _studio(tmp_path, simulator, Clock(), images_per_hour=1, jobs_in_flight=1, daily_credits=3)
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
        assert restarted.limiter.usage(restarted.visitor("bnobody"))["credits_today"] == 3  # Akool's deduction (1080p)
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
        stored = len(studio.uploads.blobs.list("uploads/"))
        with pytest.raises(LimitReached, match="past 1 MB of source uploads in 24 hours"):
            studio.add_upload(source, owner=studio.owner_for(None, OTHER_BROWSER), client_address=ADDRESS)
        assert len(studio.uploads.blobs.list("uploads/")) == stored  # refused before anything was written
        # a visitor with their own key takes this server's disk too: the same budget
        own = studio.owner_for(OTHER_API_KEY, None)
        studio.add_upload(source, owner=own, client_address="198.51.100.7")
    finally:
        studio.close()


def test_over_the_total_upload_budget_the_oldest_uploads_go_first(tmp_path):
    uploads = UploadStore(LocalBlobs(tmp_path))
    made = []
    for i in range(4):
        upload = uploads._write(b"x" * 1000, "png")
        os.utime(upload.path, (1000 + i, 1000 + i))
        made.append(upload)
    assert uploads.total_bytes() == 4000
    assert uploads.prune_over(2500, keep=[made[0]]) == 2  # the oldest is kept (just written), then oldest first
    assert [u.path.exists() for u in made] == [True, False, False, True]
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


def test_two_processes_on_one_data_folder_count_together(tmp_path):
    """Each limiter has its own documents object, as two app processes would: neither keeps its own count."""
    clock = Clock()
    first = _limiter(tmp_path, clock, images_per_hour=3, daily_credits=100)
    second = _limiter(tmp_path, clock, images_per_hour=3, daily_credits=100)
    visitor = first.visitor("bowner", ADDRESS)
    _spend(first, visitor, 2, credits=4)
    assert second.usage(visitor) == {"images_last_hour": 2, "in_flight": 0, "credits_today": 8}
    _spend(second, visitor, 1, start=2)
    with pytest.raises(LimitReached, match="You have made 3 images in the last hour"):
        first.check(visitor, 1)
    # both wrote on top of each other's count: nothing was lost
    data = json.loads((tmp_path / LEDGER_FILE).read_text())
    assert sum(s[1] for s in data["spends"]["bowner"]) == 3 and data["day_credits"] == 9


def test_a_request_reserves_what_akool_charges_so_the_daily_budget_is_never_overshot(tmp_path, simulator):
    # 7 credits a day, 1080p jobs at 3: two fit (6); a third would take the day to 9. Reserving a fixed
    # 1 credit per job sent it (6 + 1 <= 7), and Akool's charge then passed the budget.
    studio = _studio(tmp_path, simulator, Clock(), images_per_hour=100, jobs_in_flight=100, daily_credits=7)
    try:
        owner = studio.owner_for(None, BROWSER)
        for _ in range(2):
            studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
        before = _creates(simulator)
        with pytest.raises(LimitReached, match="1 credit left"):
            studio.submit(_request_for(), api_key=None, owner=owner, client_address=ADDRESS)
        assert _creates(simulator) == before  # nothing sent
    finally:
        studio.close()


def test_a_reservation_counts_in_every_process_on_the_ledger_until_released_or_its_process_is_gone(tmp_path):
    # Two processes (or replicas) on one ledger: what one has reserved for a request still on its way to
    # Akool counts for the other's check, so the last free images cannot be given out twice.
    from akool_ui.service.quotas.ledger import HOLD_SECONDS

    clock = Clock()
    here, there = _limiter(tmp_path, clock, images_per_hour=4), _limiter(tmp_path, clock, images_per_hour=4)
    visitor = here.visitor("bowner", ADDRESS)
    hold = here.check(visitor, 3)
    with pytest.raises(LimitReached, match="1 more image"):
        there.check(visitor, 2)
    here.release(hold)
    there.release(there.check(visitor, 4))  # released: all four free again, in both
    here.check(visitor, 4)  # taken, and its process dies before it records or releases
    with pytest.raises(LimitReached):
        there.check(visitor, 1)
    clock.advance(HOLD_SECONDS + 1)
    there.check(visitor, 1)  # a dead process's reservation lapses


def test_two_processes_checking_at_once_never_both_pass_the_last_free_images(tmp_path):
    import threading

    clock = Clock()
    limiters = [_limiter(tmp_path, clock, images_per_hour=4) for _ in range(4)]
    start, passed, refused = threading.Barrier(len(limiters)), [], []

    def press(limiter: SpendingLimiter) -> None:
        start.wait()
        try:
            passed.append(limiter.check(limiter.visitor("bowner", ADDRESS), 3))
        except LimitReached:
            refused.append(limiter)

    threads = [threading.Thread(target=press, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 1 and len(refused) == 3
