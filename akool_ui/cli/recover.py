"""``check-again``: look again at the app's own jobs that timed out, were stopped, or whose downloads gave
up, from the command line (the same as the page's "Check again" and the API's ``/check_again``).

It opens the app's cache (``AKOOL_CACHE_DIR`` and the rest of the app's settings, as ``serve`` would),
polls Akool for the chosen jobs with a fresh deadline, stores what Akool still holds, and prints one line
per job. It may run while the app serves the same cache: a job's downloads are locked across processes.
Jobs made with a visitor's own key can only be checked from the page, with that key.
"""

from __future__ import annotations

import argparse
import logging
import time

from .api import _err

__all__ = ["_configure_check_again", "_run_check_again"]


def _configure_check_again(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--id", dest="job_ids", action="append", metavar="JOB_ID",
                       help="a job id from the app's history (repeat for several)")
    group.add_argument("--all", action="store_true",
                       help="every job that timed out or whose downloads gave up (not stopped ones)")
    group.add_argument("--list", action="store_true",
                       help="only list what could be checked again, and requests whose outcome is unknown")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="give up waiting after this long (default 600; the jobs stay resumable)")


def _line(record) -> str:
    """One job as a line: id, state, how many images are stored, why not all, the prompt."""
    from ..jobs import wording

    stored = sum(1 for e in record.images if e.is_stored)
    text = f"{record.id}  {wording.state_label(record.state):<16} {stored} image(s) stored"
    if record.error_message:
        text += f"  {record.error_message}"
    if record.prompt:
        text += f"  “{record.prompt[:60]}”"
    return text


def _run_check_again(args: argparse.Namespace) -> int:
    """Build the app's studio on its cache, check the jobs again, wait, print where each one ended."""
    if not (args.timeout > 0 and args.timeout != float("inf")):
        _err("error: --timeout must be a positive number of seconds.")
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from ..akool.errors import AkoolError
    from ..bootstrap import build_studio
    from ..jobs import RecordState
    from ..errors import StudioError
    from ..settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        _err(f"error: {exc}")
        return 2
    built = build_studio(settings, start=False)  # read first: starting the studio resumes some of them
    try:
        studio = built.studio
        unsettled = studio.unsettled()
        if args.list:
            for record in unsettled:
                if record.is_intent or record.can_check_again:
                    print(_line(record), flush=True)
            return 0
        if args.all:
            chosen = [r.id for r in unsettled if r.state is RecordState.TIMED_OUT or r.gave_up_downloads]
        else:
            chosen = []
            for job_id in args.job_ids:
                try:
                    record = studio.record(job_id)
                except AkoolError as exc:
                    _err(f"error: {job_id}: {exc.user_message}")
                    return 2
                if record is None:
                    _err(f"error: there is no job {job_id} in {settings.cache_dir}.")
                    return 2
                chosen.append(record.id)
        studio.start()  # its start-up also settles unanswered requests and resumes jobs
        waiting = []
        for job_id in chosen:
            try:
                studio.check_again_as_operator(job_id)
            except StudioError as exc:
                _err(f"{job_id}: {exc.user_message}")
                continue
            waiting.append(job_id)
        records = _wait_final(studio, waiting, args.timeout)
        for record in records:
            print(_line(record), flush=True)
        return 0 if all(r.state is RecordState.SUCCEEDED and not r.gave_up_downloads for r in records) else 1
    finally:
        built.close()


def _wait_final(studio, job_ids: list[str], timeout: float) -> list:
    """The jobs' records once none is polling or downloading any more (or at the timeout)."""
    if not job_ids:
        return []
    with studio.subscribe(job_ids) as subscription:
        deadline = time.monotonic() + timeout
        while not subscription.done and time.monotonic() < deadline:
            subscription.get(timeout=0.5)
    return [r for job_id in job_ids if (r := studio.record(job_id)) is not None]
