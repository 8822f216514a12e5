"""The simulator's timing models (quick, realistic) and its 1005 limit on status polls."""

from __future__ import annotations

import statistics

import pytest

from akool_ui.simulator.timing import REALISTIC, JobTimer
from tests.test_simulator_support import Api, private_server


def _totals(timer: JobTimer, n: int, *, upscale: bool = False, in_flight: int = 0, speed: float = 1.0) -> list[float]:
    return [sum(timer.draw("realistic", upscale=upscale, in_flight=in_flight, speed=speed)) for _ in range(n)]


def test_realistic_generation_jobs_take_30_to_50_seconds_with_a_tail():
    totals = _totals(JobTimer(seed=1), 2000)
    inside = [t for t in totals if 30 <= t <= 50]
    assert len(inside) / len(totals) > 0.75  # the bulk
    assert 34 <= statistics.median(totals) <= 42
    assert max(totals) > 60  # a tail: slow processing or a long queue
    assert min(totals) > 20


def test_realistic_upscales_have_their_own_shorter_distribution():
    upscales = _totals(JobTimer(seed=2), 1000, upscale=True)
    generations = _totals(JobTimer(seed=2), 1000)
    assert statistics.median(upscales) < statistics.median(generations) - 10


def test_the_same_seed_gives_the_same_durations_and_speed_divides_them():
    assert _totals(JobTimer(seed=5), 50) == _totals(JobTimer(seed=5), 50)
    assert _totals(JobTimer(seed=5), 50) != _totals(JobTimer(seed=6), 50)
    fast = _totals(JobTimer(seed=5), 50, speed=10.0)
    assert fast == pytest.approx([t / 10 for t in _totals(JobTimer(seed=5), 50)])


def test_long_queues_get_likelier_under_load():
    def long_queues(in_flight: int) -> int:
        timer = JobTimer(seed=3)
        return sum(timer.draw("realistic", upscale=False, in_flight=in_flight, speed=1.0)[0]
                   >= REALISTIC.long_queue_min for _ in range(2000))

    assert long_queues(0) < long_queues(30)


def test_quick_timing_is_the_fixed_demo_timing():
    assert JobTimer().draw("quick", upscale=False, in_flight=0, speed=2.0) == (0.75, 2.0)


def test_realistic_timing_option_makes_jobs_last_tens_of_seconds():
    with private_server(speed=1.0, timing="realistic", timing_seed=11) as server:
        api = Api(server)
        job_id = api.v4()["_id"]
        server.sim.advance(15)
        assert api.info(job_id)["image_status"] in (1, 2)  # a quick job would be long done
        server.sim.advance(600)
        assert api.info(job_id)["image_status"] == 3


def test_timing_options_are_checked_and_reset_restores_them(simulator):
    with pytest.raises(ValueError):
        simulator.sim.set_options(timing="slow")
    with pytest.raises(ValueError):
        simulator.sim.set_options(poll_limit=-1)
    with pytest.raises(ValueError):
        simulator.sim.set_options(timing_seed="x")
    simulator.sim.set_options(timing="realistic", poll_limit=3, timing_seed=4)
    assert simulator.sim.options()["timing"] == "realistic"
    simulator.sim.reset_faults()
    assert simulator.sim.options()["timing"] == "quick" and simulator.sim.options()["poll_limit"] == 0


def test_an_account_polling_faster_than_the_limit_gets_1005_and_others_do_not():
    with private_server(speed=1.0, poll_limit=2.0) as server:
        api = Api(server)
        job_id = api.v4()["_id"]
        codes = [api.info_code(job_id) for _ in range(12)]  # far more than 2/s with a 2 s burst
        assert codes[:4] == [1000] * 4 and 1005 in codes
        assert server.sim.stats()["rate_limited"] == codes.count(1005)
        server.sim.advance(1.0)  # the bucket refills at the limit
        assert api.info_code(job_id) == 1000


def test_the_poll_limit_scales_with_speed_and_zero_turns_it_off():
    with private_server(speed=20.0, poll_limit=2.0) as server:
        api = Api(server)
        job_id = api.v4()["_id"]
        server.sim.advance(0.06)  # 0.06 s at speed 20 = 1.2 s at speed 1: a bit over 2 tokens back
        for _ in range(4):
            api.info_code(job_id)
        server.sim.advance(0.05)
        assert api.info_code(job_id) == 1000
        server.sim.set_options(poll_limit=0)
        assert all(api.info_code(job_id) == 1000 for _ in range(20))
