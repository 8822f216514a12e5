"""Several replicas on one history: do sessions finish when a replica dies, and is every job polled once?

Starts, each in its own process: a real Redis and moto's S3 server on loopback (the shared stores), the
cheap-image simulator of ``bench_load.py`` (Akool), ``--replicas`` app processes (``python app.py`` with
AKOOL_REDIS_URL + AKOOL_S3_BUCKET), and a tiny sticky round-robin proxy in front of them (a session's
connections go to the replica it was first given, and to the next live one once that one is gone), then
``--sessions`` gradio_client sessions through the proxy. Each session calls ``/generate`` (batch 1, no
wait; the calls arrive evenly over ``--arrivals`` seconds, the same in every run, so the poll budget is
as busy with one replica as with several), then ``/job`` every second until its job is final (those calls
are the quick events timed here). Once every session has its job id (the jobs are mid-way), the first replica is killed with SIGKILL.
Before the sessions, ``--warmup`` jobs (not counted) teach the replicas how long jobs take here, so the
one-replica baseline and the replicas start from the same learned schedule.

Each replica reaches Akool through a forwarder of its own in this process, which notes every status poll
(which replica, which job, when) and every job Akool made. Figures:

* ``ok``: sessions whose job succeeded with its images;
* ``lost_jobs``: jobs Akool made that are not in the shared history as succeeded with every image in the
  bucket;
* ``duplicate_polls``: a poll of a job by one replica while another replica that polled it before is
  still alive (two live pollers of one job);
* ``polls_per_job``: status polls over jobs; compared with one replica's, measured first in the same run
  (``--no-baseline`` skips it);
* ``event_p95_ms``: p95 of a quick event through the proxy while the sessions run: ``/job`` on a finished
  job by probe processes of their own, as ``bench_load.py`` times it (the sessions' own ``/job`` calls
  are printed too; they carry their crowded processes' CPU).

    python bench/bench_replicas.py [--replicas 2] [--sessions 100] [--speed 1] [--warmup 12] [--arrivals 20]
                                   [--no-baseline]

The last line is exactly::

    replicas: replicas=<R> sessions=<N> ok=<n ok> lost_jobs=<n> duplicate_polls=<n> polls_per_job=<x> event_p95_ms=<p95>
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from bench_load import API_KEY, Children, free_port, json_lines, pct, wait_http  # noqa: E402
from replica_net import SESSION_HEADER, AkoolLog, run_proxy, start_forwarder  # noqa: E402

from akool_ui.service.runtime.durations import ENOUGH_SAMPLES, SAVE_DELAY_SECONDS  # noqa: E402

S3_KEY = "bench"
# Seconds from starting the session processes to the first arrival.
ARRIVALS_START = 8.0
PROBES = 2


# --- the stores ----------------------------------------------------------------------------------------


def start_stores(children: Children, work: Path) -> tuple[str, str]:
    """Redis and moto's S3 server on free loopback ports (lowest priority: other machines)."""
    if shutil.which("redis-server") is None:
        raise SystemExit("bench: needs redis-server (apt-get install redis-server)")
    redis_port, s3_port = free_port(), free_port()
    children.start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL, background=True)
    children.start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, background=True)
    wait_http(f"http://127.0.0.1:{s3_port}/", 60)
    return f"redis://127.0.0.1:{redis_port}/0", f"http://127.0.0.1:{s3_port}"


def stores_env(redis_url: str, s3_url: str, prefix: str) -> dict[str, str]:
    return {"AKOOL_REDIS_URL": redis_url, "AKOOL_S3_URL": s3_url, "AKOOL_S3_BUCKET": prefix,
            "AKOOL_STORE_PREFIX": prefix, "AKOOL_S3_KEY_ID": S3_KEY, "AKOOL_S3_SECRET": S3_KEY}


# --- the sessions (a child role) -------------------------------------------------------------------------


def run_sessions(url: str, first: int, count: int, deadline_s: float, start_at: float, every: float) -> None:
    """Sessions ``first``..``first + count - 1``; session n calls /generate at ``start_at + n * every``
    (epoch seconds), so every run has the same arrivals whatever the replicas' own pace."""
    from gradio_client import Client

    out_lock = threading.Lock()

    def say(item: dict) -> None:
        with out_lock:
            print(json.dumps(item), flush=True)

    def session(n: int) -> None:
        headers = {SESSION_HEADER: uuid.uuid4().hex}
        result: dict = {"n": n, "ok": False, "latencies": []}
        deadline = time.monotonic() + deadline_s
        try:
            client = Client(url, verbose=False, download_files=False, headers=headers)
            time.sleep(max(0.0, start_at + n * every - time.time()))
            out = client.predict(f"replica test {n}: a lighthouse at dawn", api_name="/generate", wait=False)
            sid, job_id = out["session"], out["jobs"][0]["id"]
            say({"submitted": job_id, "n": n})
            while time.monotonic() < deadline:
                time.sleep(1.0)
                started = time.monotonic()
                try:
                    job = client.predict(job_id, "", sid, api_name="/job")["jobs"][0]
                except Exception:  # noqa: BLE001 - its replica died: a new page on the next one
                    time.sleep(0.5)
                    try:
                        client = Client(url, verbose=False, download_files=False, headers=headers)
                    except Exception:  # noqa: BLE001
                        pass
                    continue
                result["latencies"].append((time.monotonic() - started) * 1000)
                if job["state"] in ("succeeded", "failed", "timed_out"):
                    result.update(ok=job["state"] == "succeeded" and bool(job["images"]), state=job["state"])
                    break
        except Exception as exc:  # noqa: BLE001 - every kind of failure is a figure here
            result["error"] = type(exc).__name__
        say(result)

    threads = [threading.Thread(target=session, args=(first + i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- the conductor ---------------------------------------------------------------------------------------


def warm_up(url: str, jobs: int, log: AkoolLog) -> None:
    """``jobs`` jobs from sessions of their own (spread over the replicas), waited for, then a pause for
    every replica to read the durations they taught; then the log starts afresh. Both runs then measure
    from the same learned schedule, not the cold start's race between submissions and the first finishes."""
    if jobs <= 0:
        return
    from gradio_client import Client

    def one(n: int) -> None:
        client = Client(url, verbose=False, download_files=False, headers={SESSION_HEADER: uuid.uuid4().hex})
        client.predict(f"warm-up {n}: a lighthouse at dawn", api_name="/generate")

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, range(jobs)))
    time.sleep(2 * SAVE_DELAY_SECONDS + 1)  # saved by the replica that learned, read by the others
    with log.lock:
        log.polls.clear()
        log.made.clear()
        log.created.clear()


def start_replica(children: Children, index: int, work: Path, env: dict[str, str]) -> tuple[int, subprocess.Popen]:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AKOOL_", "GRADIO_"))}
    full.update(AKOOL_CACHE_DIR=str(work / f"replica{index}"), GRADIO_TEMP_DIR=str(work / f"gradio{index}"),
                GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **env)
    work.mkdir(parents=True, exist_ok=True)
    log = open(work / f"replica{index}.log", "w")
    proc = children.start([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
                           "--log-level", "WARNING"], env=full, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return port, proc


def poll_split(polls: list[tuple[float, int, str]], killed: int | None) -> dict[str, float]:
    """Polls per job for the jobs the killed replica polled (then adopted) and for the others."""
    by_job: dict[str, list[int]] = collections.defaultdict(list)
    for _, replica, job_id in polls:
        by_job[job_id].append(replica)
    adopted = [len(r) for r in by_job.values() if killed in r]
    others = [len(r) for r in by_job.values() if killed not in r]
    return {"adopted_jobs": len(adopted), "adopted_ppj": sum(adopted) / max(1, len(adopted)),
            "other_jobs": len(others), "other_ppj": sum(others) / max(1, len(others))}


def duplicate_polls(polls: list[tuple[float, int, str]], killed: int | None, killed_at: float) -> int:
    """Polls of a job by a replica while the replica that polled it last is another, still alive."""
    by_job: dict[str, list[tuple[float, int]]] = collections.defaultdict(list)
    for at, replica, job_id in polls:
        by_job[job_id].append((at, replica))
    duplicates = 0
    for seen in by_job.values():
        seen.sort()
        for (_, before), (at, after) in zip(seen, seen[1:]):
            if before != after and not (before == killed and at >= killed_at):
                duplicates += 1
    return duplicates


def lost_jobs(made: set[str], env: dict[str, str], work: Path) -> int:
    """Jobs Akool made that the shared history lacks, or holds without every image in the bucket."""
    from akool_ui.adapters.shared import SharedStorage
    from akool_ui.jobs import RecordState
    from akool_ui.settings import Settings

    storage = SharedStorage.from_settings(Settings.from_env({**env, "AKOOL_CACHE_DIR": str(work / "check")}))
    try:
        lost = 0
        for job_id in made:
            record = storage.records.get(job_id)
            if record is None or record.state is not RecordState.SUCCEEDED or not record.images or not all(
                    e.is_stored and e.original and storage.blobs.exists(e.original) for e in record.images):
                lost += 1
        return lost
    finally:
        storage.close()


def run_once(args: argparse.Namespace, replicas: int, *, kill: bool, stores: tuple[str, str], work: Path) -> dict:
    children = Children()
    forwarders: list[ThreadingHTTPServer] = []
    log = AkoolLog()
    try:
        sim_port = free_port()
        sim = children.start([sys.executable, str(BENCH / "bench_load.py"), "--role", "simulator", "--port",
                              str(sim_port), "--speed", str(args.speed)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, background=True)
        if sim.stdout.readline().strip() != "ready":
            raise SystemExit("bench: the simulator did not start")
        env = stores_env(*stores, f"r{replicas}{uuid.uuid4().hex[:10]}")
        procs, ports = [], []
        for i in range(replicas):
            forwarder = start_forwarder(i, sim_port, log)
            forwarders.append(forwarder)
            replica_env = {**env, "AKOOL_BASE_URL": f"http://127.0.0.1:{forwarder.server_address[1]}",
                           "AKOOL_API_KEY": API_KEY}
            port, proc = start_replica(children, i, work, replica_env)
            procs.append(proc)
            ports.append(port)
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz", 180)
        proxy_port = free_port()
        proxy = children.start([sys.executable, __file__, "--role", "proxy", "--port", str(proxy_port),
                                "--backends", ",".join(map(str, ports))],
                               stdout=subprocess.PIPE, text=True, background=True)
        if proxy.stdout.readline().strip() != "ready":
            raise SystemExit("bench: the proxy did not start")
        url = f"http://127.0.0.1:{proxy_port}"
        # The quick event, timed as bench_load times it: /job on a finished job, by probe processes of their
        # own (each stands for another client machine, so no session's CPU shows up in its timings).
        from gradio_client import Client

        probe_out = Client(url, verbose=False, download_files=False).predict("probe", api_name="/generate")
        warm_up(url, args.warmup, log)
        probe_samples: list[float] = []
        for _ in range(PROBES):
            probe = children.start([sys.executable, str(BENCH / "bench_load.py"), "--role", "probe", "--probe", "/job",
                                    "--url", url, "--job-id", probe_out["jobs"][0]["id"], "--session",
                                    probe_out["session"]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=lambda p=probe: [probe_samples.append(x["ms"]) for x in json_lines(p) if "ms" in x],
                             daemon=True).start()
        workers = max(1, min(args.workers, args.sessions))
        per = [args.sessions // workers + (1 if i < args.sessions % workers else 0) for i in range(workers)]
        session_procs = []
        first = 0
        start_at = time.time() + ARRIVALS_START  # the session processes import gradio_client meanwhile
        every = args.arrivals / args.sessions
        for count in per:
            session_procs.append(children.start(
                [sys.executable, __file__, "--role", "sessions", "--url", url, "--first", str(first), "--count",
                 str(count), "--timeout", str(args.timeout), "--start-at", str(start_at), "--every", str(every)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, background=True))
            first += count
        results, submitted = [], 0
        lines: "queue.Queue[dict]" = queue.Queue()
        for proc in session_procs:
            threading.Thread(target=lambda p=proc: [lines.put(x) for x in json_lines(p)], daemon=True).start()
        killed_at, killed = float("inf"), None
        started = time.monotonic()
        probe_first = len(probe_samples)
        while len(results) < args.sessions and time.monotonic() - started < args.timeout + 60:
            try:
                item = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if "submitted" in item:
                submitted += 1
                if kill and submitted == args.sessions and killed is None:
                    time.sleep(args.kill_after)
                    procs[0].kill()
                    killed, killed_at = 0, time.monotonic()
                    print(f"bench: replica 0 SIGKILLed {killed_at - started:.1f} s in, every job submitted",
                          file=sys.stderr)
            else:
                results.append(item)
        with log.lock:
            polls, made, created = list(log.polls), set(log.made), dict(log.created)
        if args.dump:
            with open(f"{args.dump}-{replicas}.json", "w") as out:
                json.dump({"killed": killed, "killed_at": killed_at, "created": created, "polls": polls}, out)
        events = probe_samples[probe_first:]
        latencies = [ms for r in results for ms in r.get("latencies", [])]
        return {
            "replicas": replicas, "sessions": args.sessions, "ok": sum(1 for r in results if r.get("ok")),
            "lost_jobs": lost_jobs(made, env, work), "duplicate_polls": duplicate_polls(polls, killed, killed_at),
            "polls_per_job": len(polls) / max(1, len(made)), "event_p95_ms": pct(events, 0.95),
            **poll_split(polls, killed),
            "seconds": time.monotonic() - started, "jobs": len(made), "event_p50_ms": pct(events, 0.5),
            "session_job_p95_ms": pct(latencies, 0.95),
        }
    finally:
        for forwarder in forwarders:
            forwarder.shutdown()
        children.stop()


def line(fig: dict) -> str:
    return (f"replicas: replicas={fig['replicas']} sessions={fig['sessions']} ok={fig['ok']} "
            f"lost_jobs={fig['lost_jobs']} duplicate_polls={fig['duplicate_polls']} "
            f"polls_per_job={fig['polls_per_job']:.2f} event_p95_ms={fig['event_p95_ms']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2, help="app processes behind the proxy (default 2)")
    parser.add_argument("--sessions", type=int, default=100, help="gradio_client sessions (default 100)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulator speed (1: a job takes ~5 s)")
    parser.add_argument("--workers", type=int, default=4, help="processes the sessions are spread over")
    parser.add_argument("--arrivals", type=float, default=20.0,
                        help="seconds over which the sessions' /generate calls arrive, evenly (0: all at once)")
    parser.add_argument("--kill-after", type=float, default=0.5,
                        help="seconds after the last job is submitted that replica 0 is killed")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a session after this long")
    parser.add_argument("--warmup", type=int, default=ENOUGH_SAMPLES,
                        help=f"jobs run (and learned from) before each measured run, not counted (default "
                             f"{ENOUGH_SAMPLES}: enough to replace the prior; 0: measure the cold start)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-replica run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (replica logs)")
    parser.add_argument("--dump", default="", help="write each run's creates and polls to DUMP-<replicas>.json")
    parser.add_argument("--role", choices=("conductor", "proxy", "sessions"), default="conductor", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--backends", default="", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--every", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "proxy":
        return run_proxy(args.port, [int(p) for p in args.backends.split(",")])
    if args.role == "sessions":
        return run_sessions(args.url, args.first, args.count, args.timeout, args.start_at, args.every)
    work = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    store_children = Children()
    try:
        stores = start_stores(store_children, work)
        baseline = None if args.no_baseline else run_once(args, 1, kill=False, stores=stores, work=work / "one")
        if baseline is not None:
            print(f"baseline (1 replica, none killed): {line(baseline)} in {baseline['seconds']:.0f} s, "
                  f"/job p50 {baseline['event_p50_ms']:.0f} ms", flush=True)
        fig = run_once(args, args.replicas, kill=True, stores=stores, work=work / "many")
        print(f"{args.replicas} replicas, replica 0 killed halfway: {fig['jobs']} jobs made, "
              f"{fig['seconds']:.0f} s, probe /job p50 {fig['event_p50_ms']:.0f} ms, the sessions' own /job calls "
              f"p95 {fig['session_job_p95_ms']:.0f} ms (with their processes' CPU)", flush=True)
        if baseline is not None:
            change = (fig["polls_per_job"] / baseline["polls_per_job"] - 1) * 100 if baseline["polls_per_job"] else 0
            print(f"polls per job: {fig['adopted_ppj']:.2f} for the {fig['adopted_jobs']} jobs replica 0 polled "
                  f"before it died, {fig['other_ppj']:.2f} for the other {fig['other_jobs']}", flush=True)
            print(f"polls_per_job {fig['polls_per_job']:.2f} vs {baseline['polls_per_job']:.2f} with one replica "
                  f"({change:+.1f} %)", flush=True)
        print(line(fig), flush=True)
    finally:
        store_children.stop()
        if args.keep:
            print(f"work folder: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
