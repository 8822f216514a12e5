"""Many API sessions at once: does every session finish, and do quick calls and the page stay quick?

Starts, each in its own process:

* a simulator with cheap images (``--backend external``, the default): every result file of a given size
  and role is rendered once and then served from memory, so what is measured is the app's own work
  (downloads, previews, store writes, serving), not Pillow drawing 400 pictures on the same cores;
  with ``--backend demo`` the app runs its default in-process demo simulator instead (``python app.py``);
* the app (``python app.py``) on a fresh cache;
* session workers: ``--sessions`` gradio_client sessions, each calling ``/generate`` (batch 1, wait) at
  the same moment, as a new user's script would (default client settings, files downloaded).

Meanwhile probe processes (one per probe, each standing for one more client machine) time a quick event
(``/job`` on an existing job through gradio_client, no file downloads; and the same call over Gradio's
raw queue protocol, the server's part of it), ``GET /`` and ``GET /healthz`` (a route with no work: how
quickly the server itself answers) every 0.5 s, and this process samples the app process's threads, RSS
and CPU time. The same probes run for a few seconds before the load (the idle baseline of the same run).
The simulator and the session workers run at the lowest CPU priority (they stand for other machines); the
probes at this process's. Prints figures; never passes or fails.

    python bench/bench_load.py [--sessions 100] [--backend external|demo] [--workers 4] [--speed 1] [--app-dir D]

The last line is exactly::

    load: sessions=<N> ok=<n ok> errors=<n errors> event_p95_ms=<quick event p95> page_p95_ms=<GET / p95>
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from the repo root without install

API_KEY = "BenchLoadApiKey0123456789"
PROBE_EVERY = 0.5
IDLE_SECONDS = 5.0
START_DELAY = 3.0  # seconds after the workers are told to start: every session calls /generate together


# --- child roles -------------------------------------------------------------------------------------


def serve_cheap_simulator(port: int, speed: float) -> None:
    """A simulator whose result files cost one render per (size, role) for the whole run."""
    from akool_ui.simulator import SimulatorServer
    from akool_ui.simulator import results

    rendered: dict[tuple, bytes] = {}
    lock = threading.Lock()
    real_render = results.ResultFiles._render

    def cheap_render(self, job, role):  # noqa: ANN001 - same signature as ResultFiles._render
        key = (tuple(job.size), "u" if role == "u" else "grid" if role == "grid" else "c")
        with lock:
            data = rendered.get(key)
        if data is None:
            data = real_render(self, job, role)
            with lock:
                rendered.setdefault(key, data)
        return data

    results.ResultFiles._render = cheap_render
    server = SimulatorServer(api_key=API_KEY, speed=speed, port=port)
    server.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop()


def run_sessions(url: str, first: int, count: int, start_at: float) -> None:
    """``count`` gradio_client sessions in threads; one JSON line per session on stdout."""
    from gradio_client import Client

    out_lock = threading.Lock()

    def session(n: int) -> None:
        started = time.monotonic()
        result: dict = {"n": n}
        try:
            client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="bench-load-dl-"))
            time.sleep(max(0.0, start_at - time.time()))
            started = time.monotonic()
            out = client.predict(f"load test {n}: a lighthouse at dawn", api_name="/generate")
            jobs = out.get("jobs") or []
            good = bool(jobs) and all(j.get("state") == "succeeded" and j.get("images") for j in jobs)
            result.update(ok=good, error=None if good else "not-succeeded")
        except Exception as exc:  # noqa: BLE001 - every kind of failure is a figure here
            result.update(ok=False, error=type(exc).__name__)
        result["seconds"] = round(time.monotonic() - started, 2)
        with out_lock:
            print(json.dumps(result), flush=True)

    threads = [threading.Thread(target=session, args=(first + i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- the conductor ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def json_lines(proc: subprocess.Popen) -> Iterator[dict]:
    """What a child role reports: one JSON object per line on its stdout (any other line is skipped)."""
    for line in proc.stdout:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def _rank_lowest(pid: int) -> None:
    """Put child ``pid`` (started ``nice -n 19`` in a session of its own) at the lowest CPU priority.

    With the kernel's autogroup scheduling (Linux's default on desktops and many containers) every session
    is a group of its own, the groups share the CPU equally and a process's nice value only counts inside
    its group: the group's nice is what ranks the child below the app. Set from here, after the start,
    because code run in a child between fork and exec (``preexec_fn``) can hang when this process has
    threads, as the probes' are."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text("19")
    except OSError:  # no autogroups here: the process nice is what counts
        pass


class Children:
    """Processes this bench started; all stopped on exit (with their process groups, when they lead one)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict[str, str] | None = None, cwd: str | Path = ROOT,
              *, background: bool = False, new_session: bool = True, **kwargs) -> subprocess.Popen:
        """``background``: a process that stands for another machine (Akool, the callers' computers): it
        runs at the lowest CPU priority, so on a shared box the app being measured is not starved by them.
        ``new_session``: a session (and process group) of its own; else it shares this process's."""
        if background:
            args = ["nice", "-n", "19", *args]
        proc = subprocess.Popen(args, env=env, cwd=cwd, start_new_session=new_session, **kwargs)
        if background:
            _rank_lowest(proc.pid)
        self.procs.append(proc)
        return proc

    @staticmethod
    def _signal(proc: subprocess.Popen, signum: int) -> None:
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                self._signal(proc, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()


def wait_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: nothing answered at {url} within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (less noisy than latencies on a busy machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def proc_sample(pid: int) -> tuple[int, int]:
    """(threads, RSS in MB) of ``pid`` from /proc."""
    threads = rss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    except OSError:
        pass
    return threads, rss


PROBES = ("/job", "raw /job", "GET /", "GET /healthz")


def run_probe(kind: str, url: str, job_id: str, session: str) -> None:
    """One probe, every PROBE_EVERY seconds until stopped: one JSON line per try on stdout.

    Each probe is a process of its own, as each stands for a client on another machine: in one process
    their clients would share a GIL, and gradio_client's CPU (it builds two TLS contexts per call) would
    show up in the page's timings and the other way round."""
    import httpx

    http = httpx.Client(timeout=60)
    if kind == "/job":
        from gradio_client import Client

        client = Client(url, verbose=False, download_files=False)

        def action() -> None:
            out = client.predict(job_id, "", session, api_name="/job")
            assert out["jobs"][0]["id"] == job_id
    elif kind == "raw /job":
        job_fn = next(d["id"] for d in http.get(url + "/config").json()["dependencies"] if d.get("api_name") == "job")

        hash_ = uuid.uuid4().hex[:12]  # one session for all calls, as a page (or a gradio_client) keeps

        def action() -> None:
            """/job as a browser sends it (queue join, then the event stream): the server's part of a quick event."""
            http.post(url + "/gradio_api/queue/join", json={
                "data": [job_id, "", session], "fn_index": job_fn, "session_hash": hash_,
                "event_data": None, "trigger_id": None}).raise_for_status()
            with http.stream("GET", url + "/gradio_api/queue/data", params={"session_hash": hash_}) as stream:
                for line in stream.iter_lines():
                    if '"process_completed"' in line:
                        assert '"success": true' in line or '"success":true' in line, line[:200]
                        return
            raise AssertionError("the event stream ended without a result")
    else:
        path = "/" if kind == "GET /" else "/healthz"

        def action() -> None:
            http.get(url + path).raise_for_status()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        began_at, began = time.time(), time.perf_counter()
        try:
            action()
            line = {"t": began_at, "ms": (time.perf_counter() - began) * 1000}
        except Exception as exc:  # noqa: BLE001 - every kind of failure is a figure here
            line = {"t": began_at, "error": type(exc).__name__}
        print(json.dumps(line), flush=True)
        stop.wait(max(0.0, PROBE_EVERY - (time.perf_counter() - began)))


class Probes:
    """The four probes (``PROBES``), each in a process of its own, timing every PROBE_EVERY seconds from
    ``start`` until ``close``; ``window`` gives one stretch of their timings. Samples the app's threads and
    RSS meanwhile. The probe processes stay in this process's scheduling group and at its priority."""

    def __init__(self, children: "Children", url: str, job_id: str, session: str, app_pid: int):
        self.children, self.url, self.job_id, self.session, self.app_pid = children, url, job_id, session, app_pid
        self.samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in PROBES}  # (started at, ms)
        self.errors: list[tuple[float, str]] = []
        self.peak_threads = self.peak_rss = 0
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._stop = threading.Event()

    def start(self) -> "Probes":
        for kind in PROBES:
            proc = self.children.start(
                [sys.executable, __file__, "--role", "probe", "--probe", kind, "--url", self.url,
                 "--job-id", self.job_id, "--session", self.session],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, new_session=False,
            )
            self._procs.append(proc)
            threading.Thread(target=self._collect, args=(kind, proc), daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    def _collect(self, kind: str, proc: subprocess.Popen) -> None:
        for item in json_lines(proc):
            with self._lock:
                if "ms" in item:
                    self.samples[kind].append((item["t"], item["ms"]))
                else:
                    self.errors.append((item["t"], f"{kind} {item['error']}"))

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            threads, rss = proc_sample(self.app_pid)
            self.peak_threads, self.peak_rss = max(self.peak_threads, threads), max(self.peak_rss, rss)

    def reset_peaks(self) -> None:
        self.peak_threads = self.peak_rss = 0

    def window(self, since: float, until: float) -> "Window":
        with self._lock:
            return Window(
                {k: [(t, ms) for t, ms in v if since <= t < until] for k, v in self.samples.items()},
                collections.Counter(what for t, what in self.errors if since <= t < until),
                since,
            )

    def close(self) -> None:
        self._stop.set()
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=120)  # a probe finishes the call it is in
            except subprocess.TimeoutExpired:
                proc.kill()


class Window:
    """The probes' timings over one stretch of time."""

    def __init__(self, samples: dict[str, list[tuple[float, float]]], errors: collections.Counter, since: float):
        self.samples, self.errors, self.since = samples, errors, since

    def ms(self, kind: str) -> list[float]:
        return [ms for _, ms in self.samples[kind]]

    def slowest(self, n: int = 6, kinds: tuple[str, ...] = ("/job", "GET /")) -> str:
        timed = sorted(((ms, t - self.since, kind) for kind in kinds for t, ms in self.samples[kind]), reverse=True)
        return ", ".join(f"{kind} {ms:.0f} ms at +{at:.0f} s" for ms, at, kind in timed[:n])


def start_app(children: Children, args: argparse.Namespace, work: Path) -> tuple[str, subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKOOL_", "GRADIO_"))}
    port = free_port()
    env.update(
        AKOOL_CACHE_DIR=str(work / "cache"), GRADIO_TEMP_DIR=str(work / "gradio"), GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    if args.backend == "external":
        sim_port = free_port()
        sim = children.start(
            [sys.executable, __file__, "--role", "simulator", "--port", str(sim_port), "--speed", str(args.speed)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, background=True,
        )
        if sim.stdout.readline().strip() != "ready":
            raise SystemExit("bench: the simulator did not start")
        env.update(AKOOL_BASE_URL=f"http://127.0.0.1:{sim_port}", AKOOL_API_KEY=API_KEY)
    else:
        env.update(AKOOL_DEMO_SPEED=str(args.speed))
    log = open(work / "app.log", "w")
    app = children.start(
        [sys.executable, str(Path(args.app_dir) / "app.py"), "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "WARNING"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=args.app_dir,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", 120)
    return url, app


def summary(name: str, values: list[float]) -> str:
    return f"{name} p50 {pct(values, 0.5):.0f} ms, p95 {pct(values, 0.95):.0f} ms ({len(values)} samples)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100, help="gradio_client sessions at once (default 100)")
    parser.add_argument("--backend", choices=("external", "demo"), default="external",
                        help="external: cheap-image simulator in its own process (default); demo: python app.py as is")
    parser.add_argument("--workers", type=int, default=4, help="processes the sessions are spread over")
    parser.add_argument("--speed", type=float, default=1.0, help="simulator speed factor (1 = Akool-like seconds)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on the sessions after this long")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (app log, cache)")
    parser.add_argument("--app-dir", default=str(ROOT),
                        help="the checkout whose app.py is measured (default: this one; e.g. an export of main "
                             "to measure 'before' with the same bench)")
    # internal roles of the child processes
    parser.add_argument("--role", choices=("conductor", "simulator", "sessions", "probe"), default="conductor",
                        help=argparse.SUPPRESS)
    parser.add_argument("--probe", choices=PROBES, default="/job", help=argparse.SUPPRESS)
    parser.add_argument("--job-id", default="", help=argparse.SUPPRESS)
    parser.add_argument("--session", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "simulator":
        return serve_cheap_simulator(args.port, args.speed)
    if args.role == "sessions":
        return run_sessions(args.url, args.first, args.count, args.start_at)
    if args.role == "probe":
        return run_probe(args.probe, args.url, args.job_id, args.session)
    if args.sessions < 1 or args.workers < 1:
        parser.error("--sessions and --workers must be at least 1")

    from gradio_client import Client

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    children = Children()
    try:
        url, app = start_app(children, args, work)
        print(f"app at {url} ({args.backend} backend, pid {app.pid}); {os.cpu_count()} cores", flush=True)
        warm = Client(url, verbose=False, download_files=str(work / "warm"))
        first = warm.predict("the job the probe reads", api_name="/generate")
        job_id, session = first["jobs"][0]["id"], first["session"]
        probes = Probes(children, url, job_id, session, app.pid).start()
        time.sleep(2.0)  # the probes' own start (imports, the first connection) is not a figure
        idle_from = time.time()
        time.sleep(IDLE_SECONDS)
        idle = probes.window(idle_from, time.time())
        idle_threads, idle_rss = proc_sample(app.pid)
        print(f"idle: {summary('/job', idle.ms('/job'))}; {summary('GET /', idle.ms('GET /'))}; "
              f"{summary('raw /job', idle.ms('raw /job'))}; app {idle_threads} threads, {idle_rss} MB RSS", flush=True)

        probes.reset_peaks()
        cpu_before = cpu_seconds(app.pid)
        load_from = time.time()
        start_at = load_from + START_DELAY
        per = -(-args.sessions // args.workers)
        # gradio_client downloads into temp folders: keep them in the work folder, removed at the end
        (work / "tmp").mkdir()
        session_env = {**os.environ, "TMPDIR": str(work / "tmp")}
        workers = []
        for w in range(args.workers):
            count = min(per, args.sessions - w * per)
            if count <= 0:
                break
            workers.append(children.start(
                [sys.executable, __file__, "--role", "sessions", "--url", url, "--first", str(w * per),
                 "--count", str(count), "--start-at", str(start_at)],
                env=session_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, background=True,
            ))
        results: list[dict] = []
        lock = threading.Lock()

        def collect(proc: subprocess.Popen) -> None:
            for item in json_lines(proc):
                with lock:
                    results.append(item)

        readers = [threading.Thread(target=collect, args=(p,), daemon=True) for p in workers]
        for r in readers:
            r.start()
        deadline = time.monotonic() + args.timeout
        for r in readers:
            r.join(timeout=max(0.0, deadline - time.monotonic()))
        load_seconds = time.time() - start_at
        load = probes.window(load_from, time.time())
        probes.close()
        app_cpu = cpu_seconds(app.pid) - cpu_before
        event_ms, page_ms = load.ms("/job"), load.ms("GET /")

        ok = sum(1 for r in results if r.get("ok"))
        errors = collections.Counter(r["error"] for r in results if not r.get("ok"))
        missing = args.sessions - len(results)
        if missing:
            errors["no answer before --timeout"] += missing
        durations = [r["seconds"] for r in results if r.get("ok")]
        print(f"load: {args.sessions} sessions in {load_seconds:.0f} s; session p50 {pct(durations, 0.5):.1f} s, "
              f"p95 {pct(durations, 0.95):.1f} s", flush=True)
        print(f"sessions ok: {ok} of {args.sessions}", flush=True)
        print("client errors by kind: " + (", ".join(f"{k} x{v}" for k, v in errors.most_common()) or "none"), flush=True)
        if load.errors:
            print("probe errors: " + ", ".join(f"{k} x{v}" for k, v in load.errors.most_common()), flush=True)
        print(f"under load: {summary('quick event /job', event_ms)}; {summary('GET /', page_ms)}; "
              f"{summary('GET /healthz (a route with no work)', load.ms('GET /healthz'))}; "
              f"{summary('/job over the raw queue protocol', load.ms('raw /job'))}", flush=True)
        print(f"slowest probes (seconds into the load phase; the sessions start at +{START_DELAY:.0f} s): "
              f"{load.slowest()}", flush=True)
        print(f"app process peak: {probes.peak_threads} threads, {probes.peak_rss} MB RSS "
              f"(idle {idle_threads} threads, {idle_rss} MB); {app_cpu:.1f} CPU seconds during the load", flush=True)
        print(f"machine load average now: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores; above that, "
              "latencies are noise)", flush=True)
        print(f"load: sessions={args.sessions} ok={ok} errors={sum(errors.values())} "
              f"event_p95_ms={pct(event_ms, 0.95):.0f} page_p95_ms={pct(page_ms, 0.95):.0f}", flush=True)
    finally:
        children.stop()
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
