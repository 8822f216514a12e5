"""The learned poll schedule (pacing), job durations (durations) and the poll budget, on injected clocks."""

from __future__ import annotations

import json
import logging

import pytest

from akool_ui.adapters.local import LocalDocuments, MemoryDocuments, MemorySlots
from akool_ui.akool.models import JobStatus
from akool_ui.akool.polling import PollPolicy
from akool_ui.jobs import JobRecord
from akool_ui.service.runtime.durations import AKOOL_PRIOR, ENOUGH_SAMPLES, DurationBook, scaled_prior
from akool_ui.service.runtime.pacing import JobPlan, Pacing, poll_offsets
from akool_ui.service.ports import StorageUnavailable
from akool_ui.service.runtime.poll_budget import RECOVERY_SECONDS, PollBudgets

POLICY = PollPolicy(interval=1.0, max_interval=5.0, deadline=600.0)
KEY = "akool/generate/1080p"


class Credential:
    """Stands in for an AkoolClient: budgets are keyed by the client object (weakly)."""


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def poll_times(pacing: Pacing, finish: float, *, queued_until: float = 0.0, webhook: bool = False) -> list[float]:
    """Walk one job created at t=0 that ends at ``finish``: the times (since creation) it is polled."""
    plan = JobPlan(KEY, origin=0.0, webhook=webhook)
    now = pacing.next_pause(plan, 0.0)
    times = []
    while True:
        times.append(now)
        if now >= finish or len(times) > 500:
            return times
        status = JobStatus.QUEUED if now < queued_until else JobStatus.PROCESSING
        now += pacing.next_pause(plan, now, status)


def learned_pacing(durations: list[float]) -> Pacing:
    book = DurationBook(None)
    for seconds in durations:
        book.record(KEY, seconds)
    return Pacing(book, POLICY)


def test_polls_are_sparse_early_and_dense_around_the_learned_finish():
    # jobs of this kind have finished between 55 and 65 s (nothing like the 30-50 s prior)
    pacing = learned_pacing([55 + (i % 11) for i in range(40)])
    times = poll_times(pacing, finish=1000.0)  # a job that never ends: the whole schedule
    early = [t for t in times if t < 45]
    near = [t for t in times if 54 <= t <= 66]
    assert len(early) <= 4  # a first look, then sparse
    assert times[0] <= 3.0  # the first look catches a job refused at once
    assert len(near) >= 8  # dense where jobs finish
    gaps_near = [b - a for a, b in zip(near, near[1:])]
    gaps_early = [b - a for a, b in zip(early, early[1:])]
    assert max(gaps_near) < min(gaps_early)
    assert all(b - a >= POLICY.interval - 1e-9 for a, b in zip(times, times[1:]))  # never closer than interval
    # past the band: a steady fallback, no longer than the policy's max_interval
    late = [b - a for a, b in zip(times, times[1:]) if a > 80]
    assert late and max(late) <= POLICY.max_interval and min(late) >= POLICY.interval


def test_a_typical_job_costs_fewer_polls_than_a_fixed_3_s_poller_and_is_seen_sooner():
    pacing = learned_pacing([55 + (i % 11) for i in range(40)])
    for finish in (56.3, 59.9, 64.2):
        times = poll_times(pacing, finish)
        fixed_polls = int(finish // 3) + 1
        assert len(times) < fixed_polls
        assert times[-1] - finish < 1.5  # a 3 s poller is late by 1.5 s on average


def test_learning_moves_the_dense_polls_and_the_prior_serves_a_fresh_install():
    fresh = Pacing(DurationBook(None), POLICY)
    offsets, typical = fresh.offsets(KEY)
    assert typical == sorted(AKOOL_PRIOR["generate"])[len(AKOOL_PRIOR["generate"]) // 2]
    assert any(30 <= o <= 50 for o in offsets)
    book = fresh.book
    for _ in range(ENOUGH_SAMPLES):
        book.record(KEY, 12.0 + _ * 0.1)
    offsets, typical = fresh.offsets(KEY)
    assert typical < 14 and max(o for o in offsets) < 20


def test_a_queued_job_is_looked_at_sparsely_and_its_schedule_moves_on():
    pacing = learned_pacing([55 + (i % 11) for i in range(40)])
    times = poll_times(pacing, finish=160.0, queued_until=100.0)  # a 100 s queue, then the usual ~60 s
    while_queued = [t for t in times if t < 100]
    assert len(while_queued) <= 10
    near = [t for t in times if 150 <= t <= 162]
    assert len(near) >= 6  # dense again where it now should end
    assert times[-1] - 160.0 < 2.0


def test_a_job_with_a_webhook_is_polled_only_as_a_safety_net_until_callbacks_fail(caplog):
    pacing = learned_pacing([55 + (i % 11) for i in range(40)])
    assert len(poll_times(pacing, finish=60.0, webhook=True)) == 1  # one late safety poll
    resumed = JobPlan(KEY, origin=0.0, webhook=True)
    pacing.finished(resumed, 90.0, succeeded=True)  # a first look after a restart: proves nothing
    assert pacing.webhooks_trusted
    plan = JobPlan(KEY, origin=0.0, webhook=True)
    safety = pacing.next_pause(plan, 0.0)
    with caplog.at_level(logging.WARNING):
        pacing.finished(plan, safety, succeeded=True)  # found done by the safety poll: no callback came
    assert not pacing.webhooks_trusted and "without one" in caplog.text
    assert len(poll_times(pacing, finish=60.0, webhook=True)) > 5  # back to the learned schedule
    pacing.heard(JobPlan(KEY, origin=0.0, webhook=True), 10.0, 2)
    assert pacing.webhooks_trusted


def test_finished_jobs_teach_the_book_what_they_took():
    book = DurationBook(None)
    pacing = Pacing(book, POLICY)
    plan = JobPlan(KEY, origin=100.0, webhook=False, last_pending=40.0)
    pacing.finished(plan, 142.0, succeeded=True)  # ended between 40 s and 42 s
    heard = JobPlan(KEY, origin=0.0, webhook=True, heard_at=37.5)
    pacing.finished(heard, 38.0, succeeded=True)
    pacing.finished(JobPlan(KEY, origin=0.0, webhook=False, last_pending=5.0), 6.0, succeeded=False)
    pacing.finished(JobPlan(KEY, origin=0.0, webhook=False), 50.0, succeeded=True)  # when? unknown
    assert book.learned(KEY) == [41.0, 37.5]


def test_plans_key_jobs_by_backend_kind_and_resolution_and_place_their_origin_by_age():
    wall = Clock(5000.0)
    pacing = Pacing(DurationBook(None), POLICY, backend_of=lambda client: "demo", wall=wall, clock_rate=2.0)
    record = JobRecord.create("a" * 24, "b-owner", kind="button", button="U2", parent_id="b" * 24, request={"prompt": "x",
                              "resolution": "4K"}, now=4990.0)
    plan = pacing.plan(record, object(), now=300.0)
    assert plan.key == "demo/upscale/4k" and plan.origin == pytest.approx(300.0 - 20.0)


def test_durations_survive_a_restart_and_a_damaged_file_falls_back_to_the_prior(tmp_path):
    path = tmp_path / "durations.json"
    book = DurationBook(LocalDocuments(tmp_path))
    book.record(KEY, 41.5)
    book.record(KEY, float("nan"))  # implausible values are ignored
    book.record(KEY, -3)
    book.close()
    again = DurationBook(LocalDocuments(tmp_path))
    assert again.learned(KEY) == [41.5]
    assert len(again.samples(KEY)) == len(AKOOL_PRIOR["generate"])  # one own sample replaced one prior point
    path.write_text("{not json")
    assert DurationBook(LocalDocuments(tmp_path)).learned(KEY) == []
    path.write_text(json.dumps({"samples": {KEY: ["x", 3.0], "bad key": [1.0]}}))
    assert DurationBook(LocalDocuments(tmp_path)).learned(KEY) == [3.0]


def test_a_backend_prior_can_be_scaled_to_its_own_typical_duration():
    prior = scaled_prior({"generate": 0.22})
    book = DurationBook(None, {"demo": prior})
    samples = book.samples("demo/generate/1080p")
    assert sorted(samples)[len(samples) // 2] == pytest.approx(0.22)
    assert book.samples(KEY) == list(sorted(AKOOL_PRIOR["generate"]))


def test_poll_offsets_handle_empty_and_degenerate_samples():
    assert poll_offsets([]) == (3.0,)
    same = poll_offsets([40.0] * 20, min_gap=1.0)
    assert same[0] <= 3.0 and any(abs(o - 40.0) < 2.0 for o in same)


def test_one_budget_per_credential_spreads_a_burst_of_polls():
    clock = Clock()
    budgets = PollBudgets(5.0, clock=clock)
    key_a, key_b = Credential(), Credential()
    waits = [budgets.reserve(key_a) for _ in range(20)]
    assert waits[:10] == [0.0] * 10  # two seconds' worth at once
    assert waits[10:] == pytest.approx([0.2 * (i + 1) for i in range(10)])  # then 5 a second, each its own slot
    assert budgets.reserve(key_b) == 0.0  # another credential has its own budget


def test_1005_halves_the_budget_and_it_recovers_without_more():
    clock = Clock()
    budgets = PollBudgets(4.0, clock=clock)
    client = Credential()
    assert budgets.slow_down(client) == pytest.approx(2.0)
    assert budgets.slow_down(client) == pytest.approx(1.0)
    clock.now += RECOVERY_SECONDS
    assert budgets.rate_of(client) == pytest.approx(4.0)
    assert PollBudgets(0, clock=clock).reserve(client) == 0.0  # 0: no budget


def test_a_1005_slows_every_process_on_the_credential():
    clock, shared = Clock(), MemoryDocuments()
    name = {"server": "server"}.get  # what each process calls the credential
    here = PollBudgets(4.0, clock=clock, documents=shared, shared_name=lambda c: name(c.kind))
    there = PollBudgets(4.0, clock=clock, documents=shared, shared_name=lambda c: name(c.kind))
    server_here, server_there, visitor = Credential(), Credential(), Credential()
    server_here.kind = server_there.kind = "server"
    visitor.kind = "visitor"
    assert here.slow_down(server_here) == pytest.approx(2.0)
    clock.now += 2  # past the one-second look
    assert there.rate_of(server_there) == pytest.approx(2.0 + 2 / RECOVERY_SECONDS * (1 - 1 / 16) * 4.0)
    assert there.slow_down(server_there) < 2.0  # halves what is left, for both
    clock.now += 2
    assert here.rate_of(server_here) == pytest.approx(there.rate_of(server_there))
    here.slow_down(visitor)  # a credential with no shared name slows down here only
    assert there.rate_of(visitor) == 4.0
    # without a Slots port the slots are each process's own: both may start a burst
    assert here.reserve(server_here) == 0.0 and there.reserve(server_there) == 0.0
    clock.now += RECOVERY_SECONDS + 2
    assert there.rate_of(server_there) == pytest.approx(4.0)


def test_two_processes_on_shared_slots_poll_a_credential_at_one_rate_together():
    clock = Clock()
    slots = MemorySlots(clock=clock)  # stands in for the shared store's (the contract test runs Redis's)
    named = {"server": "server"}.get
    here = PollBudgets(5.0, clock=clock, slots=slots, shared_name=lambda c: named(c.kind))
    there = PollBudgets(5.0, clock=clock, slots=slots, shared_name=lambda c: named(c.kind))
    server_here, server_there, visitor_here, visitor_there = Credential(), Credential(), Credential(), Credential()
    server_here.kind = server_there.kind = "server"
    visitor_here.kind = visitor_there.kind = "visitor"  # no shared name: each process's own slots
    waits = [(here if i % 2 else there).reserve(server_here if i % 2 else server_there) for i in range(20)]
    assert waits[:10] == [0.0] * 10  # one burst between them: two seconds' worth of 5 a second
    assert waits[10:] == pytest.approx([0.2 * (i + 1) for i in range(10)])  # then 5 a second in all, not 10
    assert here.reserve(visitor_here) == 0.0 and there.reserve(visitor_there) == 0.0


class DownSlots:
    def take(self, name, *, gap, burst):
        raise StorageUnavailable("slot 'polls/server' could not be taken: the shared store (Redis) did not answer")


def test_unreachable_shared_slots_leave_each_process_its_own_budget(caplog):
    clock = Clock()
    budgets = PollBudgets(5.0, clock=clock, slots=DownSlots(), shared_name=lambda c: "server")
    client = Credential()
    with caplog.at_level(logging.WARNING):
        waits = [budgets.reserve(client) for _ in range(12)]
    assert waits[:10] == [0.0] * 10 and waits[10:] == pytest.approx([0.2, 0.4])  # polls go on, still spaced
    assert sum("shared poll slots could not be reached" in r.getMessage() for r in caplog.records) == 1


def test_durations_learned_in_two_processes_are_both_kept(tmp_path):
    here, there = DurationBook(LocalDocuments(tmp_path)), DurationBook(LocalDocuments(tmp_path))
    here.record(KEY, 41.0)
    there.record(KEY, 43.0)
    here.save()
    there.save()  # added to what the document holds now, not written over it
    assert sorted(DurationBook(LocalDocuments(tmp_path)).learned(KEY)) == [41.0, 43.0]
