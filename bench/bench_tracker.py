"""Polling load and notification latency: JobTracker versus one polling loop per watcher.

Starts a local simulator, creates N jobs and watches each with S subscribers, twice:

* tracker:  one JobTracker (one poller per job, bounded pools); subscribers read ``Subscription``s;
* baseline: what a naive UI does — every watcher runs its own ``AkoolClient.wait`` loop in a thread.

For each it prints status requests per job (total, and per poll interval of job life), threads used, and
the latency from the moment the simulator finishes a job to the moment a watcher hears it is done (for
the tracker also: until its images are on local disk). Prints figures; never passes or fails on time.

    python bench/bench_tracker.py [--jobs 50] [--subscribers 3] [--interval 1.0] [--speed 1.0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from the repo root without install

from akool_ui.akool.client import AkoolClient  # noqa: E402
from akool_ui.akool.models import ImageRequest  # noqa: E402
from akool_ui.jobs import RecordState  # noqa: E402
from akool_ui.adapters.local.store import JobStore  # noqa: E402
from akool_ui.bootstrap import assemble_tracker  # noqa: E402
from akool_ui.service.runtime.tracker import JobTracker  # noqa: E402
from akool_ui.simulator import SimulatorServer  # noqa: E402

API_KEY = "BenchApiKey0123456789abc"


def create_jobs(client: AkoolClient, count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        batch = min(4, count - len(ids))
        ids += [j.id for j in client.create_images(ImageRequest("bench", batch_quantity=batch, resolution="1080p"))]
    return ids


def done_wall_time(server: SimulatorServer, job_id: str) -> float:
    """Wall-clock time at which the simulator finished the job (its clock = wall time + offset)."""
    sim = server.sim
    job = sim._jobs[job_id]  # inspection only; the bench never changes simulator state
    return job.done_at - sim.clock.offset


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_tracker(server: SimulatorServer, args: argparse.Namespace) -> dict[str, object]:
    client = AkoolClient(server.base_url, api_key=API_KEY)
    store = JobStore(tempfile.mkdtemp(prefix="bench-tracker-"))
    tracker = assemble_tracker(store, poll_interval=args.interval, max_poll_interval=max(args.interval, 5.0))
    before = threading.active_count()
    server.sim.reset_stats()
    started = time.monotonic()
    records = []
    while len(records) < args.jobs:
        batch = min(4, args.jobs - len(records))
        records += tracker.submit(
            ImageRequest("bench", batch_quantity=batch, resolution="1080p"), client=client, owner="b-bench"
        )
    heard_done: dict[str, float] = {}
    heard_stored: dict[str, float] = {}
    peak_threads = 0
    subs = [tracker.subscribe(r.id) for r in records for _ in range(args.subscribers)]
    lock = threading.Lock()

    def reader(sub) -> None:
        for event in sub:
            now = time.time()
            with lock:
                if event.state in (RecordState.DOWNLOADING, RecordState.SUCCEEDED):
                    heard_done.setdefault(event.job_id, now)
                if event.state is RecordState.SUCCEEDED:
                    heard_stored.setdefault(event.job_id, now)

    # Readers here are threads only to drain the queues; the UI reads them with asyncio (no threads).
    readers = [threading.Thread(target=reader, args=(s,), daemon=True) for s in subs]
    tracker_threads_before = sum(1 for t in threading.enumerate() if t.name.startswith("akool-"))
    for t in readers:
        t.start()
    while any(t.is_alive() for t in readers):
        peak_threads = max(peak_threads, sum(1 for t in threading.enumerate() if t.name.startswith("akool-")))
        time.sleep(0.05)
    took = time.monotonic() - started
    stats = server.sim.stats()
    polls = [stats["info_polls"].get(r.id, 0) for r in records]
    life = [done_wall_time(server, r.id) - r.created_at for r in records]
    tracker.close()
    store.close()
    del before, tracker_threads_before
    return {
        "polls_per_job": statistics.mean(polls),
        "polls_per_job_max": max(polls),
        "polls_per_second_of_life": statistics.mean(p / max(lf, 1e-9) for p, lf in zip(polls, life)),
        "threads": peak_threads,
        "done_latency": [heard_done[r.id] - done_wall_time(server, r.id) for r in records],
        "stored_latency": [heard_stored[r.id] - done_wall_time(server, r.id) for r in records],
        "took": took,
    }


def run_baseline(server: SimulatorServer, args: argparse.Namespace) -> dict[str, object]:
    client = AkoolClient(server.base_url, api_key=API_KEY)
    server.sim.reset_stats()
    started = time.monotonic()
    ids = create_jobs(client, args.jobs)
    created = {job_id: time.time() for job_id in ids}
    heard: dict[str, float] = {}
    lock = threading.Lock()

    def watcher(job_id: str) -> None:
        for update in client.wait(job_id, interval=args.interval, max_interval=max(args.interval, 5.0)):
            if update.job.is_done:
                with lock:
                    heard.setdefault(job_id, time.time())

    threads = [threading.Thread(target=watcher, args=(j,), daemon=True) for j in ids for _ in range(args.subscribers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    stats = server.sim.stats()
    polls = [stats["info_polls"].get(j, 0) for j in ids]
    life = [done_wall_time(server, j) - created[j] for j in ids]
    return {
        "polls_per_job": statistics.mean(polls),
        "polls_per_job_max": max(polls),
        "polls_per_second_of_life": statistics.mean(p / max(lf, 1e-9) for p, lf in zip(polls, life)),
        "threads": len(threads),
        "done_latency": [heard[j] - done_wall_time(server, j) for j in ids],
        "took": took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval (s), both variants")
    parser.add_argument("--speed", type=float, default=1.0, help="simulator speed (1 = ~5.5 s per job)")
    args = parser.parse_args()
    with SimulatorServer(api_key=API_KEY, speed=args.speed) as server:
        tracker = run_tracker(server, args)
        baseline = run_baseline(server, args)
    print(f"{args.jobs} jobs x {args.subscribers} subscribers, poll interval {args.interval:.1f} s, "
          f"simulator speed {args.speed:g}")
    print(f"{'':32}{'tracker':>12}{'baseline':>12}")
    rows = [
        ("status polls per job (mean)", "polls_per_job", "{:.1f}"),
        ("status polls per job (max)", "polls_per_job_max", "{:.0f}"),
        ("polls per job per second", "polls_per_second_of_life", "{:.2f}"),
        ("threads polling", "threads", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:32}{fmt.format(tracker[key]):>12}{fmt.format(baseline[key]):>12}")
    for label, values_t, values_b in (
        ("done -> watcher told, p50 (s)", tracker["done_latency"], baseline["done_latency"]),
    ):
        print(f"{label:32}{pct(values_t, 0.5):>12.3f}{pct(values_b, 0.5):>12.3f}")
        print(f"{label.replace('p50', 'p95'):32}{pct(values_t, 0.95):>12.3f}{pct(values_b, 0.95):>12.3f}")
    print(f"{'done -> images on disk, p50 (s)':32}{pct(tracker['stored_latency'], 0.5):>12.3f}{'n/a':>12}")
    print(f"{'done -> images on disk, p95 (s)':32}{pct(tracker['stored_latency'], 0.95):>12.3f}{'n/a':>12}")
    print(f"{'wall time of the run (s)':32}{tracker['took']:>12.1f}{baseline['took']:>12.1f}")


if __name__ == "__main__":
    main()
