"""Status polls and detection delay on Akool-like jobs: a fixed 3 s poller, today's 1 s schedule, the
learned schedule, and webhooks.

One simulator with realistic timing (``--timing realistic``: generations and V jobs ~30-50 s with a
tail, U jobs their own, occasional long queues), run four ways at once in one process, each on the
same set of jobs (``--jobs``, default 80, since the fixed poller's own mean delay moves about ±10 % from
run to run with 40 jobs and ±7 % with 80: batches of four generations, one every ``--gap`` seconds,
then U and V presses on the first ones in a fixed order). Each way has its own simulated account, and
the simulator draws every account's durations from its own stream of the same seed, so the n-th job
of each way lasts exactly as long; running them side by side gives all four the same machine load
(the bench needs minutes, not the sum of four runs):

* (a) fixed:    a ``JobTracker`` polling every 3 s (what Akool's official demo does);
* (b) today:    the ``JobTracker`` as it was: 1 s, backing off while queued (``PollPolicy()``);
* (c) learned:  the learned schedule (``service/pacing.py``) from the prior, with the poll budget;
* (d) webhooks: (c) with callbacks to a local receiver: polls only as a safety net.

For each: status requests per job (the simulator's count of ``infobymodelid`` calls) and detection
delay (the simulator's finish -> the tracker publishes it), mean and p95. Everything runs ``--speed``
times faster (the simulator's durations and the app's clock alike), so the ratios are those of speed 1;
the delays are printed in wall-clock ms at that speed: the schedule's share shrinks with speed, the
fixed cost of a request and a store update does not, which makes the ratios at speed > 1 slightly
conservative. Prints figures; never passes or fails.

Result images are not what this bench measures: the trackers fetch them through a session that answers
every result URL with one small JPEG (``TinyResults``), so no 4K renders and previews run in this one
process and steal the interpreter from the polls being timed. Every status request is real HTTP.

    python bench/bench_polling.py [--jobs 80] [--speed 3] [--gap 5] [--seed 7] [--poll-limit 0]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from PIL import Image
from requests.adapters import BaseAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from the repo root without install

from akool_ui.akool.client import AkoolClient  # noqa: E402
from akool_ui.akool.models import ImageRequest  # noqa: E402
from akool_ui.akool.polling import PollPolicy  # noqa: E402
from akool_ui.jobs import RecordState  # noqa: E402
from akool_ui.service.runtime.durations import DurationBook  # noqa: E402
from akool_ui.service.runtime.pacing import Pacing  # noqa: E402
from akool_ui.adapters.local.store import JobStore  # noqa: E402
from akool_ui.bootstrap import assemble_tracker  # noqa: E402
from akool_ui.service.runtime.tracker import JobTracker  # noqa: E402
from akool_ui.settings import DEFAULT_POLL_BUDGET  # noqa: E402
from akool_ui.simulator import SimulatorServer  # noqa: E402

# 24 characters: each key is also its account's client secret (AES-192 callbacks)
ACCOUNTS = {mode: (f"BenchApiKey{i}0123456789ab"[:24], f"64db241f6d9e5c4bd136c10{i}") for i, mode in
            enumerate(("fixed", "today", "learned", "webhooks"))}
FIXED = PollPolicy(interval=3.0, max_interval=3.0, queued_backoff=1.0, deadline=900.0)
TODAY = PollPolicy(deadline=900.0)
LEARNED = PollPolicy(deadline=900.0)
MODES = ("fixed", "today", "learned", "webhooks")
LABELS = {"fixed": "(a) fixed 3 s", "today": "(b) today 1 s", "learned": "(c) learned", "webhooks": "(d) webhooks"}
KNOWN = (RecordState.DOWNLOADING, RecordState.SUCCEEDED, RecordState.FAILED)


class Receiver:
    """A local webhook endpoint: verifies each callback with the client and hands it to the tracker."""

    def __init__(self, client: AkoolClient):
        self.tracker: JobTracker | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if outer.tracker is not None:
                    outer.tracker.on_webhook(client.parse_webhook(json.loads(body)))

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/akool"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class TinyResults(BaseAdapter):
    """Answers every result-file URL with the same small JPEG (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (90, 120, 160)).save(buffer, "JPEG")
        self.body = buffer.getvalue()

    def send(self, request, **kwargs):  # noqa: ANN001 - requests' adapter signature
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response.headers["Content-Type"] = "image/jpeg"
        response.headers["Content-Length"] = str(len(self.body))
        response.raw = io.BytesIO(self.body)
        return response

    def close(self) -> None:
        pass


def tiny_results_session(base_url: str) -> requests.Session:
    session = requests.Session()
    session.mount(base_url + "/", TinyResults())
    return session


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def make_tracker(mode: str, store: JobStore, speed: float, session: requests.Session) -> JobTracker:
    clock = (lambda: time.monotonic() * speed)  # the app's seconds are Akool seconds, like the simulator's
    common = dict(clock=clock, clock_rate=speed, download_session=session)
    if mode in ("fixed", "today"):
        return assemble_tracker(store, policy=FIXED if mode == "fixed" else TODAY, **common)
    pacing = Pacing(DurationBook(None), LEARNED, expects_webhook=lambda client: mode == "webhooks", clock_rate=speed)
    return assemble_tracker(store, policy=LEARNED, pacing=pacing, poll_budget=DEFAULT_POLL_BUDGET, **common)


def run(mode: str, server: SimulatorServer, args: argparse.Namespace, out: dict) -> None:
    key, client_id = ACCOUNTS[mode]
    server.sim.add_account(api_key=key, client_id=client_id, client_secret=key)
    client = AkoolClient(server.base_url, api_key=key, client_id=client_id, client_secret=key)
    receiver = Receiver(client)
    store = JobStore(tempfile.mkdtemp(prefix=f"bench-polling-{mode}-"))
    tracker = make_tracker(mode, store, args.speed, tiny_results_session(server.base_url))
    receiver.tracker = tracker
    webhook = receiver.url if mode == "webhooks" else None
    heard: dict[str, float] = {}
    settled: dict[str, float] = {}
    lock = threading.Lock()
    readers: list[threading.Thread] = []

    def watch(job_id: str) -> None:
        def read() -> None:
            with tracker.subscribe(job_id) as sub:
                for event in sub:
                    if event.state in KNOWN:
                        with lock:
                            heard.setdefault(job_id, time.time())
                    if event.state in (RecordState.SUCCEEDED, RecordState.FAILED):  # downloads done too
                        with lock:
                            settled.setdefault(job_id, time.time())
                        return
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        readers.append(thread)

    started = time.monotonic()
    children_wanted = args.jobs - args.parents
    parents: list[str] = []
    for start in range(0, args.parents, 4):
        batch = min(4, args.parents - start)
        for record in tracker.submit(ImageRequest(f"bench {mode}", batch_quantity=batch, resolution="1080p"),
                                     client=client, owner="b-bench", webhook_url=webhook):
            parents.append(record.id)
            watch(record.id)
        if start + 4 < args.parents:
            time.sleep(args.gap / args.speed)
    children: list[str] = []
    for index in range(children_wanted):  # one press per parent, in a fixed order: the same draws every run
        parent = parents[index]
        while tracker.get(parent, "b-bench").state is not RecordState.SUCCEEDED:
            time.sleep(0.02)
        button = f"{'UV'[index % 2]}{1 + (index // 2) % 4}"
        child = tracker.press(parent, button, client=client, owner="b-bench", webhook_url=webhook)
        children.append(child.id)
        watch(child.id)
    for thread in readers:
        thread.join(timeout=900 / args.speed)
    took = time.monotonic() - started
    jobs = parents + children
    stats = server.sim.stats()
    tracker.close()
    store.close()
    receiver.server.shutdown()
    client.close()
    sim_jobs = server.sim._jobs  # inspection only: when the simulator finished each job (wall clock)
    done = {j: sim_jobs[j].done_at - server.sim.clock.offset for j in jobs}
    delays = [heard[j] - done[j] for j in jobs if j in heard]
    out[mode] = {
        "polls": sum(stats["info_polls"].get(j, 0) for j in jobs) / len(jobs),
        "delays": delays,
        "missing": len(jobs) - len(delays),
        "durations": [round(sim_jobs[j].done_at - sim_jobs[j].created, 3) for j in jobs],
        "took": took,
        "jobs": len(jobs),
        "mix": (len(parents), sum(1 for i in range(children_wanted) if i % 2 == 0),
                sum(1 for i in range(children_wanted) if i % 2 == 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=80, help="jobs per run (default 80; at least 40 for the issue's figures)")
    parser.add_argument("--speed", type=float, default=3.0, help="simulator and app clock speed")
    parser.add_argument("--gap", type=float, default=5.0, help="seconds (at speed 1) between batches of four")
    parser.add_argument("--seed", type=int, default=7, help="timing seed of the simulator")
    parser.add_argument("--poll-limit", type=float, default=0.0,
                        help="simulator's 1005 limit, status requests per second per account (0: none)")
    args = parser.parse_args()
    args.parents = max(4, (args.jobs * 3 + 4) // 5)  # 60 % generations, the rest U and V presses
    if args.jobs - args.parents > args.parents:
        parser.error("--jobs too small")
    wall = time.monotonic()
    results: dict[str, dict] = {}
    with SimulatorServer(speed=args.speed, timing="realistic", timing_seed=args.seed,
                         poll_limit=args.poll_limit) as server:
        runs = [threading.Thread(target=run, args=(mode, server, args, results)) for mode in MODES]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
        stats = server.sim.stats()
    if len(results) < len(MODES):
        sys.exit("a run failed (see above)")
    if len({tuple(r["durations"]) for r in results.values()}) != 1:
        print("note: the runs' job durations differ (the seeded streams diverged)")
    first = results["fixed"]
    print(f"{first['jobs']} jobs per run ({first['mix'][0]} generations, {first['mix'][1]} U, {first['mix'][2]} V), "
          f"realistic timing seed {args.seed}, speed {args.speed:g}; delays in wall-clock ms at that speed")
    print(f"{'':30}" + "".join(f"{LABELS[m]:>16}" for m in MODES))
    rows = [
        ("status requests per job", lambda r: f"{r['polls']:.2f}"),
        ("detection delay mean (ms)", lambda r: f"{1000 * statistics.mean(r['delays']):.0f}"),
        ("detection delay p95 (ms)", lambda r: f"{1000 * pct(r['delays'], 0.95):.0f}"),
        ("  same, at speed 1 (s)", lambda r: f"{args.speed * statistics.mean(r['delays']):.2f}"),
        ("jobs not seen finishing", lambda r: f"{r['missing']}"),
        ("wall time of the run (s)", lambda r: f"{r['took']:.1f}"),
    ]
    for label, cell in rows:
        print(f"{label:30}" + "".join(f"{cell(results[m]):>16}" for m in MODES))
    print(f"simulator: {stats['rate_limited']} answers 1005, {stats['webhooks']['delivered']} webhooks delivered; "
          f"whole bench {time.monotonic() - wall:.0f} s wall")
    fixed, learned, hooks = results["fixed"], results["learned"], results["webhooks"]
    print(f"polling: delay_ratio={statistics.mean(learned['delays']) / statistics.mean(fixed['delays']):.2f} "
          f"requests_ratio={learned['polls'] / fixed['polls']:.2f} "
          f"webhook_p50_ms={1000 * pct(hooks['delays'], 0.5):.0f} webhook_polls={hooks['polls']:.2f}")


if __name__ == "__main__":
    main()
