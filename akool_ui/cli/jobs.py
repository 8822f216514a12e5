"""The API from the command line: ``generate``, ``result`` and ``press`` (their arguments and output).

stdout carries only the answer (job ids, result URLs, or JSON with ``--json``); progress and errors go
to stderr, so the output can be piped. The shared plumbing lives in ``api.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .api import _api_command, _check_timeout, _client, _download, _err, _journal, _out_dir, _Stop, _wait
from .unknown import guarded_create, settled_press

if TYPE_CHECKING:  # pragma: no cover
    from ..akool import AkoolClient, Job


def _add_api_arguments(parser: argparse.ArgumentParser, *, wait: bool = True) -> None:
    """Options every API command shares."""
    if wait:
        parser.add_argument("--wait", action="store_true",
                            help="poll until done, streaming status lines to stderr, then print the result URLs")
        parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                            help="with --wait: give up after this long (default 600; the job keeps running)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="download every result image into DIR as <job_id>-<n>.<ext>"
                             + (" (implies --wait)" if wait else "") + "; Akool's URLs expire after 7 days")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    parser.add_argument("--base-url", default=None, help="Akool's address (overrides AKOOL_BASE_URL)")


def _configure_generate(parser: argparse.ArgumentParser) -> None:
    from ..akool.fields import FIELDS

    for f in FIELDS:  # one flag per request field, its default and help from the table
        if f.cli is None:
            continue
        options: dict = {"dest": f.name, "help": f.help, "metavar": f.metavar}
        if f.name == "prompt":
            options["required"] = True
        else:
            options["default"] = f.default
            if f.default not in (None, "", ()):
                options["help"] += f" (default {f.default})"
        if f.kind is list:  # repeat the flag for each item
            options.update(action="append", default=None)
        elif f.kind is not str:
            options["type"] = f.kind
        if f.choices:  # judged by ImageRequest, which says in one sentence what is allowed
            options["help"] += f"; one of {', '.join(str(c) for c in f.choices if c is not None)}"
        parser.add_argument(f.cli, **options)
    parser.add_argument("--resend", action="store_true",
                        help="send it even though the same request has an unknown outcome (exit code 3 before)")
    _add_api_arguments(parser)


def _configure_result(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, dest="job_id", metavar="JOB_ID", help="the job id (24 hex characters)")
    _add_api_arguments(parser, wait=False)


def _configure_press(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, dest="job_id", metavar="JOB_ID", help="a finished job's id")
    parser.add_argument("--button", required=True, help="U1-U4 (4K upscale of image n) or V1-V4 (variations of it)")
    _add_api_arguments(parser)



def _finish(args: argparse.Namespace, jobs: list["Job"], *, waited: bool, out: Path | None,
            single: bool = False) -> int:
    """generate and press: download (with --out), print the outcome (text or JSON), choose the exit code
    (1 when a job failed or an image could not be saved)."""
    from ..akool import JobFailed

    saved, problems = _download(jobs, out) if out is not None else ({}, [])
    if args.json:
        docs = [{**job.to_json(), **({"files": saved.get(job.id, [])} if out is not None else {})} for job in jobs]
        print(json.dumps(docs[0] if single else {"jobs": docs}, indent=2), flush=True)
    elif waited:
        for job in jobs:
            for url in job.result_urls:
                print(url, flush=True)
    else:
        for job in jobs:
            print(job.id, flush=True)
    failed = [job for job in jobs if job.status.is_done and not job.succeeded]
    for job in failed:
        _err(f"error: job {job.id} failed: {JobFailed(job).user_message}")
    for problem in problems:
        _err(problem)
    return 1 if failed or problems else 0


def _start_and_finish(args: argparse.Namespace, start: "Callable[[AkoolClient], list[Job]]", *,
                      single: bool = False) -> int:
    """Start jobs (create or press), then, with --wait or --out, wait for them; report and download."""
    _check_timeout(args)
    client, interval = _client(args)
    with client:
        out = _out_dir(args)
        jobs = start(client)
        waited = bool(args.wait or out)
        if waited:
            jobs = _wait(client, jobs, interval=interval, timeout=args.timeout)
        return _finish(args, jobs, waited=waited, out=out, single=single)


@_api_command
def _run_generate(args: argparse.Namespace) -> int:
    from ..akool import InvalidRequest
    from ..akool.fields import request_from

    try:
        request = request_from(vars(args))
    except InvalidRequest as exc:
        raise _Stop(f"error: {exc.user_message}", 2) from None
    return _start_and_finish(args, lambda client: guarded_create(client, request, _journal(args, client),
                                                                 resend=args.resend))


@_api_command
def _run_result(args: argparse.Namespace) -> int:
    from ..akool import InvalidRequest, validate_job_id

    try:
        job_id = validate_job_id(args.job_id)
    except InvalidRequest as exc:
        raise _Stop(f"error: {exc.user_message}", 2) from None
    client, _ = _client(args)
    with client:
        out = _out_dir(args)
        job = client.get_job(job_id)
    saved, problems = _download([job], out) if out is not None else ({}, [])
    if args.json:
        doc = job.to_json()
        if out is not None:
            doc["files"] = saved.get(job.id, [])
        print(json.dumps(doc, indent=2), flush=True)
    else:
        print(f"id: {job.id}")
        print(f"status: {job.status.label}")
        if job.parent_id:
            print(f"parent: {job.parent_id} (button {job.button or '?'})")
        print(f"buttons: {' '.join(job.buttons) or 'none'}")
        print(f"used buttons: {' '.join(job.used_buttons) or 'none'}")
        if job.status.is_done and not job.succeeded:
            print(f"reason: {job.error_message or 'Akool gave none'}"
                  + (f" (code {job.error_code})" if job.error_code is not None else ""))
        for url in job.result_urls:
            print(f"url: {url}")
        sys.stdout.flush()
    if out is not None and not job.succeeded:
        problems.append(f"error: job {job.id} is {job.status.label}; there is nothing to download"
                        + (" yet." if not job.is_done else "."))
    for problem in problems:
        _err(problem)
    return 1 if problems else 0


@_api_command
def _run_press(args: argparse.Namespace) -> int:
    from ..akool import InvalidRequest, validate_button, validate_job_id

    try:
        job_id = validate_job_id(args.job_id)
        button = validate_button(args.button)
    except InvalidRequest as exc:
        raise _Stop(f"error: {exc.user_message}", 2) from None
    return _start_and_finish(args, lambda client: [settled_press(client, job_id, button)], single=True)
