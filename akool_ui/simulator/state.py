"""The Simulator: the one object routes, tests and the ``/_sim`` control routes talk to.

It is a thin facade over the collaborators that hold the state (each thread-safe on its own):

    accounts    AccountBook    keys, tokens, authentication               (accounts.py)
    jobs        JobBook        jobs, their file names, create/button rules (jobbook.py)
    files       ResultFiles    file answers, rendering, render cache      (results.py)
    sources     SourceFetcher  image-to-image source fetching              (sources.py)
    faults      FaultSwitches  the switches named in faults.FAULTS         (faults.py)
    options     Options        runtime options and their defaults         (options.py)
    counters    Counters       request and work counts                    (counters.py)
    state dir   StateDir       what survives a restart                    (persistence.py)
    webhooks    WebhookSender  signed callbacks on a scheduler            (webhooks.py)

Routes (app.py) call ``get_token``, ``authenticate``, ``create_v3``, ``create_v4``, ``press_button``,
``job_info``, ``credit_info`` and ``read_file``; each returns the ``data`` to answer or raises ``SimError(code)``.
Tests (and the ``/_sim`` control routes) drive it with:

* clock: ``advance(seconds)``, ``now()``;
* faults: one method per name in ``faults.FAULTS``, plus ``reset_faults`` and ``active_faults``;
* options: ``set_options(result_shape=, v4_buttons=, upscaled_lag=, speed=, url_ttl=,
  auth_http_status=, timing=, timing_seed=, poll_limit=)``, ``options()``; ``reset_faults`` restores the constructor's options;
* counters: ``stats()``, ``reset_stats()``;
* accounts: ``add_account(api_key=, client_id=, client_secret=, credit=)``, ``set_credit(api_key, credit)``,
  ``credit(api_key)``; inspection: ``job(job_id)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from .accounts import Account, AccountBook
from .clock import Clock
from .codes import SimError
from .counters import Counters
from .credit import AccountCredit
from .faults import Fault, FaultBook, FaultSwitches
from .files import FileCache
from .jobbook import JobBook
from .jobs import SimJob
from .options import DEFAULT_URL_TTL, Options
from .persistence import StateDir
from .ratelimit import PollLimiter
from .results import FileAnswer, ResultFiles
from .scheduler import Scheduler
from .sources import SourceFetcher
from .timing import DEFAULT_TIMING_SEED, PROCESSING_SECONDS, QUEUED_SECONDS, UPSCALE_PROCESSING_SECONDS
from .validation import CreateSpec, parse_body, parse_button, parse_job_id, parse_v3, parse_v4
from .webhooks import WebhookSender

__all__ = ["Simulator", "FileAnswer", "QUEUED_SECONDS", "PROCESSING_SECONDS", "UPSCALE_PROCESSING_SECONDS",
           "DEFAULT_URL_TTL"]

log = logging.getLogger(__name__)


class Simulator(AccountCredit):
    """All simulated Akool state: accounts, tokens, jobs, files, faults, options, clock, counters."""

    def __init__(self, *, speed: float = 1.0, state_dir: str | Path | None = None,
                 result_shape: str = "candidates", url_ttl: float = DEFAULT_URL_TTL, v4_buttons: bool = True,
                 upscaled_lag: float = 0.0, auth_http_status: int = 200, base_url: str = "",
                 private_sources: bool = True, trusted_source: Callable[[str], bool] | None = None,
                 timing: str = "quick", timing_seed: int = DEFAULT_TIMING_SEED, poll_limit: float = 0.0):
        """``timing``: ``quick`` (the demo's 5.5 s jobs) or ``realistic`` (Akool-like, seeded by
        ``timing_seed``; see timing.py); ``poll_limit``: status requests per second one account may make
        (at speed 1) before it gets 1005, 0 = no limit.

        ``private_sources=False`` fetches image-to-image sources from public addresses only (as Akool
        does; the demo on a shared link must), except URLs ``trusted_source`` vouches for (the app's own
        upload links). True suits a developer's simulator fetching fixtures from 127.0.0.1."""
        self._options = Options(result_shape=result_shape, v4_buttons=v4_buttons, upscaled_lag=upscaled_lag,
                                speed=speed, url_ttl=url_ttl, auth_http_status=auth_http_status,
                                timing=timing, timing_seed=timing_seed, poll_limit=poll_limit)
        self._state = StateDir(state_dir)
        self.accounts = AccountBook()
        self.faults = FaultBook()
        self._switches = FaultSwitches(self.faults, self._expire_tokens)
        self.clock = Clock(offset=self._state.clock_offset())
        self.scheduler = Scheduler(self.clock)
        self._counters = Counters()
        self._poll_limiter = PollLimiter()
        self._book = JobBook(self.clock, self.accounts, self._switches, self._options, self._counters,
                             self._state, base_url.rstrip("/"))
        self._jobs: dict[str, SimJob] = self._book.jobs  # read by tests and bench for inspection
        self._sources = SourceFetcher(self._state, self._source_fetched, private_sources=private_sources,
                                      trusted_source=trusted_source)
        self._files = ResultFiles(self._book, self.clock, self._options, self._counters,
                                  FileCache(self._state.files_dir), self._sources.image)
        self.webhooks = WebhookSender(self.clock, self.scheduler, self._book.next_delivery,
                                      self._book.record_delivery, speed=lambda: self._options.speed)
        if self._state.enabled:
            self.clock.on_change(lambda: self._state.save_clock(self.clock.offset))
            self._restore()

    @property
    def base_url(self) -> str:
        """Absolute prefix of result URLs (set by SimulatorServer once it knows its port)."""
        return self._book.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._book.base_url = value

    # --- clock ------------------------------------------------------------------------------------

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Move simulated time forward: jobs progress, URLs age, due webhooks fire. Returns now()."""
        return self.clock.advance(seconds)

    # --- accounts ---------------------------------------------------------------------------------

    def add_account(self, api_key: str | None = None, client_id: str | None = None,
                    client_secret: str | None = None, credit: int | None = None) -> Account:
        """Add an account (see AccountBook.add for the defaults); returns it. ``credit``: its balance
        now (None: jobbook.DEFAULT_CREDIT, less what its jobs already spent)."""
        account = self.accounts.add(api_key=api_key, client_id=client_id, client_secret=client_secret)
        if credit is not None:
            self._book.set_credit(account, credit)
        log.debug("simulator account uid=%s added", account.uid)
        return account

    def _expire_tokens(self) -> int:
        count = self.accounts.expire_tokens()
        self._state.save_tokens(self.accounts.tokens_json())
        return count

    # --- options ----------------------------------------------------------------------------------

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Change runtime options; new jobs take result_shape, v4_buttons, upscaled_lag and speed
        as they are when the job is created. Returns all options."""
        return self._options.set(**options)

    def options(self) -> dict[str, Any]:
        return self._options.snapshot()

    @property
    def auth_http_status(self) -> int:
        return self._options.auth_http_status

    # --- faults: one switch per name in faults.FAULTS (the same signature and words as FaultSwitches) -

    def http_status(self, status: int = 502, times: int | None = 1, kinds: Any = None) -> None:
        """Answer matching requests with a bare HTTP ``status`` and an HTML body (not processed)."""
        self._switches.http_status(status, times, kinds)

    def delay(self, seconds: float, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests, then hold the answer back ``seconds`` (real seconds)."""
        self._switches.delay(seconds, times, kinds)

    def drop_connection(self, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests, send the status line and headers (with the real
        Content-Length), then close the connection without a body byte."""
        self._switches.drop_connection(times, kinds)

    def malformed_json(self, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests and answer HTTP 200 with the first half of the body (invalid
        JSON, consistent Content-Length). Default kinds: all JSON endpoints."""
        self._switches.malformed_json(times, kinds)

    def truncate_body(self, times: int | None = 1, kinds: Any = ("file",)) -> None:
        """Send the full Content-Length but only half of the body, then close the connection."""
        self._switches.truncate_body(times, kinds)

    def fail_next(self, times: int | None = 1, code: int | None = None, kinds: Any = None) -> None:
        """The next created job(s) end with image_status 4; with ``code``, the create (or button)
        call itself answers that business code instead (e.g. 1108, 1104)."""
        self._switches.fail_next(times, code, kinds)

    def stuck_next(self, times: int | None = 1, kinds: Any = None) -> None:
        """The next created job(s) reach status 2 and stay there forever."""
        self._switches.stuck_next(times, kinds)

    def expire_tokens(self) -> int:
        """Every token issued so far answers 1101 from now on; returns how many were revoked."""
        return self._switches.expire_tokens()

    def active_faults(self) -> list[dict[str, Any]]:
        return self.faults.active()

    def reset_faults(self) -> None:
        """Disarm every fault and restore the constructor's options (result_shape, speed, ...)."""
        self.faults.clear()
        self._options.reset()
        self._poll_limiter.reset()

    def take_transport_fault(self, kind: str) -> Fault | None:
        """Used by the HTTP layer: the transport fault to apply to this request, if any."""
        return self._switches.take_transport(kind)

    # --- counters ---------------------------------------------------------------------------------

    def count_request(self, kind: str, job_id: str | None = None) -> None:
        self._counters.count_request(kind, job_id)

    def stats(self) -> dict[str, Any]:
        """Requests by kind (``token``, ``create_v3``, ``create_v4``, ``button``, ``info``, ``file``, ``quota``),
        ``info_polls`` {job id: n}, ``creates`` (jobs made), ``renders``, ``rate_limited`` (1005
        answers), ``webhooks`` {attempts, delivered, failed}."""
        return {**self._counters.snapshot(), "webhooks": dict(self.webhooks.stats)}

    def reset_stats(self) -> None:
        self._counters.reset()
        self.webhooks.stats.update(attempts=0, delivered=0, failed=0)

    # --- API: auth --------------------------------------------------------------------------------

    def get_token(self, raw_body: bytes) -> str:
        body = parse_body(raw_body)
        token = self.accounts.issue_token(body.get("clientId"), body.get("clientSecret"), self.now())
        self._state.save_tokens(self.accounts.tokens_json())
        return token

    def authenticate(self, authorization: str | None, api_key: str | None) -> Account:
        return self.accounts.authenticate(authorization, api_key, self.now())

    # --- API: jobs and files ----------------------------------------------------------------------

    def create_v3(self, account: Account, raw_body: bytes) -> dict[str, Any]:
        return self._create(account, parse_v3(parse_body(raw_body)))[0]

    def create_v4(self, account: Account, raw_body: bytes) -> dict[str, Any] | list[dict[str, Any]]:
        docs = self._create(account, parse_v4(parse_body(raw_body)))
        return docs[0] if len(docs) == 1 else docs  # Akool: an object for batch 1, an array above

    def _create(self, account: Account, spec: CreateSpec) -> list[dict[str, Any]]:
        jobs, docs = self._book.create(account, spec)
        if spec.source_url:
            self._sources.fetch(jobs[0].id, spec.source_url, [j.id for j in jobs])
        for job in jobs:
            self._schedule_hooks(job)
        return docs

    def press_button(self, account: Account, raw_body: bytes) -> dict[str, Any]:
        parent_id, button, webhook_url = parse_button(parse_body(raw_body))
        child, doc = self._book.press(account, parent_id, button, webhook_url)
        self._schedule_hooks(child)
        return doc

    def job_info(self, account: Account, image_model_id: Any) -> dict[str, Any]:
        try:
            self._poll_limiter.check(account.uid, self.now(), limit=self._options.poll_limit,
                                     speed=self._options.speed)
        except SimError:
            self._counters.add("rate_limited")
            raise
        return self._book.info(account, parse_job_id(image_model_id))

    def job(self, job_id: str) -> dict[str, Any] | None:
        """Inspection for tests: the job document whoever owns it (None if unknown)."""
        return self._book.inspect(job_id)

    def read_file(self, name: str) -> FileAnswer:
        """A result file: 200 with JPEG bytes, 404 if unknown or not ready, 403 once expired."""
        return self._files.read(name)

    # --- wiring between collaborators -------------------------------------------------------------

    def _source_fetched(self, job_ids: list[str], source_size: tuple[int, int] | None) -> None:
        for job in self._book.source_fetched(job_ids, source_size):
            self._schedule_hooks(job)

    def _schedule_hooks(self, job: SimJob) -> None:
        """Wake the webhook sender when ``job`` reaches status 2, and when it ends (if it can end)."""
        if not job.webhook_url:
            return
        self.webhooks.kick(job.id, job.processing_at)
        if job.fate != "stuck" and job.source_state != "pending":
            self.webhooks.kick(job.id, job.done_at)

    def _restore(self) -> None:
        """Take back a previous run's tokens and jobs; redo interrupted source fetches and webhooks."""
        self.accounts.load_tokens(self._state.load_tokens())
        jobs = self._state.load_jobs()
        for key, (url, ids) in self._book.restore(jobs).items():
            self._sources.fetch(key, url, ids)
        for job in self._book.jobs.values():
            self._schedule_hooks(job)
        log.info("simulator state loaded: %d jobs", len(self._book.jobs))

    def close(self) -> None:
        """Stop background threads (scheduler, webhook and fetch pools)."""
        self.scheduler.close()
        self.webhooks.close()
        self._sources.close()
