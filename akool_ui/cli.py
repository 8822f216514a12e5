"""``python -m akool_ui <command> ...``: a dispatch table of subcommands.

Add a command by writing ``_configure_<name>(parser)`` and ``_run_<name>(args) -> int`` and one
``Command`` entry in ``COMMANDS``. This module is the only place outside tests that prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .akool import AkoolClient, Job

__all__ = ["Command", "COMMANDS", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how to add its arguments, and what runs it (returns exit code)."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str | None = None


# --- simulator -------------------------------------------------------------------------------------


def _configure_simulator(parser: argparse.ArgumentParser) -> None:
    from .simulator.jobs import RESULT_SHAPES
    from .simulator.state import DEFAULT_URL_TTL

    env = os.environ.get
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--api-key", default=env("AKOOL_SIMULATOR_API_KEY"),
                        help="API key of the simulated account (or env AKOOL_SIMULATOR_API_KEY; "
                             "default: a fixed demo key)")
    parser.add_argument("--client-id", default=env("AKOOL_SIMULATOR_CLIENT_ID"),
                        help="client id, for getToken and webhook encryption (or env AKOOL_SIMULATOR_CLIENT_ID)")
    parser.add_argument("--client-secret", default=env("AKOOL_SIMULATOR_CLIENT_SECRET"),
                        help="client secret (default: the API key; or env AKOOL_SIMULATOR_CLIENT_SECRET)")
    parser.add_argument("--speed", type=float, default=1.0, help="time factor: 2 makes jobs twice as fast")
    parser.add_argument("--state-dir", default=None, help="keep jobs and files here across restarts")
    parser.add_argument("--result-shape", choices=RESULT_SHAPES, default="candidates",
                        help="how finished jobs present their images (see simulator README)")
    parser.add_argument("--url-ttl", type=float, default=DEFAULT_URL_TTL,
                        help="seconds (simulated) before result URLs answer 403 (default 7 days)")
    parser.add_argument("--no-v4-buttons", action="store_true", help="v4 jobs offer no U/V buttons")
    parser.add_argument("--no-control", action="store_true", help="leave out the /_sim control routes")
    parser.add_argument("--public-url", default=None, help="base URL to put in result URLs (behind a proxy)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _run_simulator(args: argparse.Namespace) -> int:
    from .simulator import SimulatorServer

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.speed <= 0 or args.url_ttl <= 0:
        print("error: --speed and --url-ttl must be positive", file=sys.stderr)
        return 2
    server = SimulatorServer(
        api_key=args.api_key, client_id=args.client_id, client_secret=args.client_secret, speed=args.speed,
        state_dir=args.state_dir, host=args.host, port=args.port, result_shape=args.result_shape,
        url_ttl=args.url_ttl, v4_buttons=not args.no_v4_buttons, control=not args.no_control,
        public_url=args.public_url,
    )
    try:
        server.start()
    except OSError as exc:
        server.sim.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill` stops it as cleanly as Ctrl-C
    try:
        print(f"Akool simulator listening on {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


# --- serve -----------------------------------------------------------------------------------------


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None,
                        help="interface to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: $GRADIO_SERVER_PORT, else the first free one from 7860)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _run_serve(args: argparse.Namespace) -> int:
    """The web UI; settings from the environment (offline demo when no Akool credentials are set)."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests, one line each
    from .settings import Settings
    from .bootstrap import launch_app
    from .ui.server import install_sigterm_handler

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_sigterm_handler()
    try:
        running = launch_app(settings, host=args.host, port=args.port, share=args.share, quiet=True)
    except OSError as exc:
        print(f"error: cannot start the server: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a setting that only shows its problem at start (e.g. overlapping folders)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Akool Image Studio ({running.studio.mode} mode) running on {running.local_url}", flush=True)
    if running.share_url:
        print(f"Public link: {running.share_url}", flush=True)
    running.block()
    return 0


# --- generate / result / press: the API from the command line ------------------------------------------

EXIT_CODES = """\
exit codes:
  0    success (result: the job was found, whatever its status)
  1    Akool refused or failed: an API error, a failed or timed-out job, a download that failed
  2    bad input or no credentials: nothing was sent to Akool
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
    from .akool.models import MODELS, RESOLUTIONS, SCALES

    parser.add_argument("--prompt", required=True, help="what the image should show")
    parser.add_argument("--negative-prompt", default="", help="what it should not show")
    parser.add_argument("--scale", default="1:1", help=f"aspect ratio: {', '.join(SCALES)} (default 1:1; "
                                                       "Original needs --source-image)")
    parser.add_argument("--resolution", default="4k", help=f"{' or '.join(RESOLUTIONS)} (default 4k)")
    parser.add_argument("--batch", type=int, default=1, help="how many images (jobs), 1-4 (default 1)")
    parser.add_argument("--source-image", metavar="URL", default=None,
                        help="image-to-image: an http(s) URL of the source picture")
    parser.add_argument("--similar", type=float, default=0.5,
                        help="image-to-image: how close to the source, 0-1 (default 0.5)")
    parser.add_argument("--model", default=None, choices=sorted(MODELS),
                        help="Akool's model (default: Auto, chosen from whether --source-image is given)")
    parser.add_argument("--webhook", metavar="URL", default=None, help="Akool calls this URL when the job ends")
    _add_api_arguments(parser)


def _configure_result(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, dest="job_id", metavar="JOB_ID", help="the job id (24 hex characters)")
    _add_api_arguments(parser, wait=False)


def _configure_press(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, dest="job_id", metavar="JOB_ID", help="a finished job's id")
    parser.add_argument("--button", required=True, help="U1-U4 (4K upscale of image n) or V1-V4 (variations of it)")
    _add_api_arguments(parser)


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


def _client(args: argparse.Namespace) -> tuple["AkoolClient", float]:
    """A client from the environment (and ``--base-url``), and the poll interval to use."""
    from .akool import AkoolClient
    from .settings import Settings

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
        from .akool import AkoolError

        try:
            return body(args)
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
    from .akool import DEFAULT_POLL_POLICY, JobStatus, JobTimedOut, PollPolicy

    policy = PollPolicy(interval=interval, max_interval=max(interval, DEFAULT_POLL_POLICY.max_interval),
                        deadline=timeout)
    started = time.monotonic()
    current = {job.id: job for job in jobs}
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
            current[job.id] = client.get_job(job.id)


def _fetch(url: str) -> bytes:
    """A result file, whole (see service/downloads.py: no credentials go to the CDN); _Stop on failure."""
    from .service.downloads import DownloadFailed, ResultExpired, fetch_result

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
    from .service.images import ImageValidationError, prepare_original

    saved: dict[str, list[str]] = {}
    problems: list[str] = []
    for job in jobs:
        if not job.succeeded:
            continue
        saved[job.id] = []
        for n, url in enumerate(job.result_urls, 1):
            try:
                original = prepare_original(_fetch(url))
                path = out / f"{job.id}-{n}.{original.ext}"
                partial = path.with_name(path.name + ".part")
                partial.write_bytes(original.data)
                os.replace(partial, path)
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


def _finish(args: argparse.Namespace, jobs: list["Job"], *, waited: bool, out: Path | None,
            single: bool = False) -> int:
    """generate and press: download (with --out), print the outcome (text or JSON), choose the exit code
    (1 when a job failed or an image could not be saved)."""
    from .akool import JobFailed

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
    from .akool import ImageRequest, InvalidRequest

    try:
        request = ImageRequest(
            prompt=args.prompt, negative_prompt=args.negative_prompt, scale=args.scale, resolution=args.resolution,
            batch_quantity=args.batch, source_image_url=args.source_image, similar=args.similar,
            model_name=args.model, webhook_url=args.webhook,
        )
    except InvalidRequest as exc:
        raise _Stop(f"error: {exc.user_message}", 2) from None
    return _start_and_finish(args, lambda client: client.create_images(request))


@_api_command
def _run_result(args: argparse.Namespace) -> int:
    from .akool import InvalidRequest, validate_job_id

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
    from .akool import InvalidRequest, validate_button, validate_job_id

    try:
        job_id = validate_job_id(args.job_id)
        button = validate_button(args.button)
    except InvalidRequest as exc:
        raise _Stop(f"error: {exc.user_message}", 2) from None
    return _start_and_finish(args, lambda client: [client.press_button(job_id, button)], single=True)


COMMANDS: dict[str, Command] = {
    "serve": Command("serve the web UI (python app.py does the same)", _configure_serve, _run_serve),
    "simulator": Command("run the local Akool simulator (offline demo backend, test server)",
                         _configure_simulator, _run_simulator),
    "generate": Command("create images (v4 createBySourcePrompt); prints job ids, or with --wait the result URLs",
                        _configure_generate, _run_generate, EXIT_CODES),
    "result": Command("show a job: status, buttons, used buttons, result URLs (infobymodelid)",
                      _configure_result, _run_result, EXIT_CODES),
    "press": Command("press U1-U4 (4K upscale) or V1-V4 (variation) on a finished job (v3 createbybutton)",
                     _configure_press, _run_press, EXIT_CODES),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m akool_ui", description="Akool Image Studio",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        extra: dict[str, Any] = {}
        if command.epilog:
            extra = {"epilog": command.epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
        command.configure(subparsers.add_parser(name, help=command.help, description=command.help, **extra))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)
