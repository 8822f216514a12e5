"""What the API commands (generate, result, press) share: the client, failures as exit codes, waiting,
downloading.

Every expected failure is a ``_Stop`` (or an ``AkoolError``) that ``_api_command`` turns into one
sentence on stderr and an exit code, so the commands themselves read as the happy path.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from ..akool import AkoolClient, Job

EXIT_CODES = """\
exit codes:
  0    success (result: the job was found, whatever its status)
  1    Akool refused or failed: an API error, a failed or timed-out job, a download that failed
  2    bad input or no credentials: nothing was sent to Akool
  3    unknown submission outcome: a create or press was sent and its answer lost (or the same request
       still has one); Akool may have made and charged it. generate --resend sends it anyway
  130  interrupted (Ctrl-C): started jobs keep running; look at them later with `result --id`

credentials: AKOOL_API_KEY, or AKOOL_CLIENT_ID and AKOOL_CLIENT_SECRET (never on the command line);
Akool's address: AKOOL_BASE_URL (default https://openapi.akool.com) or --base-url."""


class _Stop(Exception):
    """Ends a command: ``message`` (one sentence) goes to stderr, ``code`` is the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.message = message
        self.code = code


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _out_dir(args: argparse.Namespace) -> Path | None:
    """``--out`` as an existing directory (made now, before anything is sent), or None."""
    if not args.out:
        return None
    path = Path(args.out).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Stop(f"error: cannot use {str(path)!r} as the download folder ({exc.strerror or exc}).", 2) from None
    return path


def _check_timeout(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise _Stop("error: --timeout must be a positive number of seconds.", 2)


def _journal(args: argparse.Namespace, client: "AkoolClient"):
    """The journal of this machine's unknown creates (``unknown.Journal``), in the app's data folder."""
    from ..settings import Settings
    from .unknown import Journal

    return Journal(Path(Settings.from_env().cache_dir), client.base_url)


def _client(args: argparse.Namespace) -> tuple["AkoolClient", float]:
    """A client from the environment (and ``--base-url``), and the poll interval to use."""
    from ..akool import AkoolClient
    from ..settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise _Stop(f"error: {exc}.", 2) from None
    if not settings.has_server_credentials:
        raise _Stop("error: set AKOOL_API_KEY (or AKOOL_CLIENT_ID and AKOOL_CLIENT_SECRET) to your Akool "
                    "credentials first.", 2)
    try:
        client = AkoolClient((args.base_url or settings.base_url).strip(), api_key=settings.api_key,
                             client_id=settings.client_id, client_secret=settings.client_secret)
    except ValueError:
        raise _Stop("error: the Akool base URL must be an http(s) address with a host and no credentials in it "
                    "(check --base-url or AKOOL_BASE_URL).", 2) from None
    return client, settings.poll_interval


def _api_command(body: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run ``body`` and turn every expected failure into one sentence on stderr and an exit code."""

    def run(args: argparse.Namespace) -> int:
        from ..akool import AkoolError

        from .unknown import EXIT_UNKNOWN, UnknownOutcome

        try:
            return body(args)
        except UnknownOutcome as unknown:
            _err(unknown.message)
            return EXIT_UNKNOWN
        except _Stop as stop:
            _err(stop.message)
            return stop.code
        except AkoolError as exc:
            _err(f"error: {exc.user_message}")
            return 1
        except KeyboardInterrupt:
            _err("interrupted; jobs already started keep running on Akool (see them with `result --id`).")
            return 130

    return run


def _wait(client: "AkoolClient", jobs: list["Job"], *, interval: float, timeout: float) -> list["Job"]:
    """Poll every job until all are done, one status line on stderr per change; the finished jobs.

    The first line per job is its status in the create answer; then each unfinished job is polled once
    per round, rounds apart as ``PollPolicy`` says for the group (growing while every job is still
    queued: the rule of ``AkoolClient.wait`` and the tracker).
    """
    from ..akool import DEFAULT_POLL_POLICY, JobStatus, JobTimedOut, PollPolicy
    from ..akool.candidates import hold_for_candidates

    policy = PollPolicy(interval=interval, max_interval=max(interval, DEFAULT_POLL_POLICY.max_interval),
                        deadline=timeout)
    started = time.monotonic()
    current = {job.id: job for job in jobs}
    candidates_due: dict[str, float | None] = {}

    def read(job: "Job") -> "Job":  # a grid-only "done" waits for its candidates (the tracker's rule)
        job, candidates_due[job.id] = hold_for_candidates(job, candidates_due.get(job.id), time.monotonic(),
                                                         policy.interval)
        return job

    current = {job_id: read(job) for job_id, job in current.items()}
    seen: dict[str, JobStatus] = {}
    pause = policy.interval
    while True:
        for job_id, job in current.items():
            if seen.get(job_id) is not job.status:
                seen[job_id] = job.status
                _err(f"{job_id}  {job.status.label:<10} {time.monotonic() - started:6.1f}s")
        pending = [job for job in current.values() if not job.is_done]
        if not pending:
            return list(current.values())
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            ids = " ".join(job.id for job in pending)
            raise _Stop(f"error: {JobTimedOut.default_user_message} Still running: {ids} "
                        f"(check with `python -m akool_ui result --id ID`).", 1)
        group = JobStatus.QUEUED if all(job.status is JobStatus.QUEUED for job in pending) else JobStatus.PROCESSING
        pause = pause if group is JobStatus.QUEUED else policy.interval
        time.sleep(min(pause, left))
        pause = policy.next_pause(pause, group)
        for job in pending:
            current[job.id] = read(client.get_job(job.id))


def _fetch(url: str) -> bytes:
    """A result file, whole (see service/downloads.py: no credentials go to the CDN); _Stop on failure."""
    from ..service.results.downloads import DownloadFailed, ResultExpired, fetch_result

    try:
        return fetch_result(url)
    except ResultExpired as exc:
        raise _Stop(f"{exc}: the link has expired, Akool keeps results for 7 days", 1) from None
    except DownloadFailed as exc:
        raise _Stop(str(exc), 1) from None


def _download(jobs: list["Job"], out: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Save every result image of the succeeded jobs into ``out`` as ``<job_id>-<n>.<ext>``.

    Returns the saved paths by job id and one sentence per image that could not be saved.
    """
    from ..akool.candidates import grid_as_candidates
    from ..fileio import write_atomic
    from ..service.results.images import ImageValidationError, prepare_original, split_grid

    saved: dict[str, list[str]] = {}
    problems: list[str] = []
    for job in jobs:
        if not job.succeeded:
            continue
        saved[job.id] = []
        grid = grid_as_candidates(job)  # the candidates never came: cut the 2x2 grid, as the app does
        urls = (job.image_url,) * 4 if grid else job.result_urls
        quarters: list[bytes] = []
        for n, url in enumerate(urls, 1):
            try:
                if grid and not quarters:
                    quarters = split_grid(_fetch(url))
                original = prepare_original(quarters[n - 1] if grid else _fetch(url))
                path = out / f"{job.id}-{n}.{original.ext}"
                write_atomic(path, original.data, mode=0o644, fsync=False)  # the user's own folder: readable
            except _Stop as stop:
                problems.append(f"error: could not download image {n} of job {job.id} ({stop.message}).")
            except ImageValidationError:
                problems.append(f"error: image {n} of job {job.id} is not a complete PNG, JPEG or WebP file.")
            except OSError as exc:
                problems.append(f"error: could not save image {n} of job {job.id} ({exc.strerror or exc}).")
            else:
                saved[job.id].append(str(path))
                _err(f"saved {path} ({original.width}x{original.height})")
    return saved, problems
