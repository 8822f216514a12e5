"""The job book: every simulated job, the result file names they own, and the rules that make them.

Creating (v3, v4), pressing a button, answering ``infobymodelid`` and saying which webhook a job owes
all happen here, under one lock. The book never starts work itself: it returns the jobs it touched,
and the Simulator hands them to the source fetcher and the webhook sender.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from ..akool.models import UPSCALE_BUTTONS
from . import render
from .accounts import Account, AccountBook
from .clock import Clock
from .codes import SimError
from .counters import Counters
from .faults import FaultSwitches
from .jobs import SimJob, new_file_name, new_message_id, new_object_id
from .options import Options
from .persistence import StateDir
from .timing import PROCESSING_SECONDS, QUEUED_SECONDS, UPSCALE_PROCESSING_SECONDS, JobTimer
from .validation import CreateSpec
from .webhooks import Delivery

__all__ = ["JobBook", "QUEUED_SECONDS", "PROCESSING_SECONDS", "UPSCALE_PROCESSING_SECONDS", "CREDITS",
           "RESOLUTION_CREDITS", "UPSCALE_CREDITS", "DEFAULT_CREDIT", "job_cost"]

log = logging.getLogger(__name__)

CREDITS = {"v3": 2}  # v3: as in Akool's v3 examples (deduction_credit 2)
# v4, per job: what a third party measured Akool charging (3 per 1080p job, 4 per 4k; akool-api.md §9),
# not the v4 page's "1 per image". A variation is a new generation at its parent's resolution; an upscale
# makes a 4K image, so it costs what a 4k job does.
RESOLUTION_CREDITS = {"1080p": 3, "4k": 4}
UPSCALE_CREDITS = RESOLUTION_CREDITS["4k"]
# An account's starting balance when none is set: enough for a long test run or a busy demo day; tests
# that want an empty account set their own (``Simulator.set_credit``).
DEFAULT_CREDIT = 100_000


def job_cost(api: str, resolution: str, button: str = "") -> int:
    """The ``deduction_credit`` of one job (see the constants above)."""
    if api in CREDITS:
        return CREDITS[api]
    if api == "button" and button in UPSCALE_BUTTONS:
        return UPSCALE_CREDITS
    return RESOLUTION_CREDITS.get(resolution, RESOLUTION_CREDITS["4k"])

_KIND_BY_API = {"v3": "create_v3", "v4": "create_v4", "button": "button"}


class JobBook:
    """Jobs by id and result files by name; ``base_url`` prefixes every URL in a job document."""

    def __init__(self, clock: Clock, accounts: AccountBook, faults: FaultSwitches, options: Options,
                 counters: Counters, state: StateDir, base_url: str = ""):
        self._clock = clock
        self._accounts = accounts
        self._faults = faults
        self._options = options
        self._counters = counters
        self._state = state
        self.base_url = base_url
        self._lock = threading.RLock()
        self.jobs: dict[str, SimJob] = {}
        self._files: dict[str, tuple[str, str]] = {}  # file name -> (job id, role)
        self._warned_unsigned: set[int] = set()
        self._timers: dict[int, JobTimer] = {}  # one seeded stream per account (uid)
        self._credit_base: dict[int, int] = {}  # uid -> credit before any of its jobs was charged

    # --- credit -----------------------------------------------------------------------------------

    def _spent(self, uid: int, now: float) -> int:
        """Credits the account's jobs were charged (a failed job is refunded; lock held)."""
        return sum(j.credits for j in self.jobs.values() if j.uid == uid and j.status(now) != 4)

    def credit(self, account: Account) -> int:
        """The account's balance now: its starting credit less what its jobs were charged."""
        with self._lock:
            base = self._credit_base.get(account.uid, DEFAULT_CREDIT)
            return base - self._spent(account.uid, self._clock.now())

    def set_credit(self, account: Account, credit: int) -> int:
        """Make the account's balance ``credit`` now (its jobs so far stay charged); returns it."""
        if isinstance(credit, bool) or not isinstance(credit, int) or credit < 0:
            raise ValueError("credit must be a whole number, 0 or more")
        with self._lock:
            self._credit_base[account.uid] = credit + self._spent(account.uid, self._clock.now())
        return credit

    def _charge(self, account: Account, cost: int) -> None:
        """1006 (Akool's "insufficient quota balance") when the balance cannot pay ``cost`` (lock held)."""
        balance = self.credit(account)
        if balance < cost:
            raise SimError(1006, f"this needs {cost} credits and the account has {balance}")

    # --- the API's calls --------------------------------------------------------------------------

    def create(self, account: Account, spec: CreateSpec) -> tuple[list[SimJob], list[dict[str, Any]]]:
        """Make the ``spec.batch`` jobs of a v3/v4 call; returns them and their documents."""
        self._faults.raise_call_fault(_KIND_BY_API[spec.api])
        size = [] if spec.scale == "Original" else list(render.output_size(spec.scale, spec.resolution))
        with self._lock:
            self._charge(account, spec.batch * job_cost(spec.api, spec.resolution))
            now = self._clock.now()
            jobs = [self._new_job(
                account, spec.api, now + i * 0.001, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                scale=spec.scale, resolution=spec.resolution, size=list(size), source_url=spec.source_url,
                similar=spec.similar, model_name=spec.model_name, webhook_url=spec.webhook_url,
                offer_buttons=bool(spec.api == "v3" or self._options.v4_buttons),
            ) for i in range(spec.batch)]
            if spec.source_url:
                for job in jobs:
                    job.source_key, job.source_state = jobs[0].id, "pending"
            for job in jobs:
                self._state.save_job(job)
            return jobs, [job.to_api(now, self.base_url) for job in jobs]

    def press(self, account: Account, parent_id: str, button: str, webhook_url: str) -> tuple[SimJob, dict[str, Any]]:
        """``createbybutton``: the child job and its document; 1010 when the button cannot be pressed."""
        with self._lock:
            now = self._clock.now()
            parent = self.owned(account, parent_id)
            if parent.status(now) != 3:
                raise SimError(1010, "the job has not finished successfully")
            if button in parent.used_buttons:
                raise SimError(1010, f"{button} has already been used")
            if button not in parent.offered_buttons():
                raise SimError(1010, f"{button} is not offered for this job")
            self._faults.raise_call_fault("button")
            self._charge(account, job_cost("button", parent.resolution, button))
            parent.used_buttons.append(button)
            self._state.save_job(parent)
            upscale = button in UPSCALE_BUTTONS
            child = self._new_job(
                account, "button", now, prompt=parent.prompt, negative_prompt=parent.negative_prompt,
                scale=parent.scale, resolution=parent.resolution,
                size=list(render.upscale_size(parent.size) if upscale else parent.size),
                similar=parent.similar, model_name=parent.model_name, webhook_url=webhook_url,
                parent_id=parent.id, button=button, op_message_id=new_message_id(), offer_buttons=True,
            )
            self._state.save_job(child)
            return child, child.to_api(now, self.base_url)

    def info(self, account: Account, job_id: str) -> dict[str, Any]:
        """``infobymodelid``: the document of one of ``account``'s jobs."""
        with self._lock:
            return self.owned(account, job_id).to_api(self._clock.now(), self.base_url)

    def owned(self, account: Account, job_id: str) -> SimJob:
        """The job, if ``account`` owns it: 1008 when unknown, 1009 when someone else's."""
        job = self.jobs.get(job_id)
        if job is None:
            raise SimError(1008)
        if job.uid != account.uid:
            raise SimError(1009)
        return job

    def _new_job(self, account: Account, api: str, created: float, **fields: Any) -> SimJob:
        """Make, register and name the files of a job (call with the lock held)."""
        kind = _KIND_BY_API[api]
        upscale = api == "button" and str(fields.get("button", "")).startswith("U")
        queued_for, processing_for = self._draw_times(account, created, upscale)
        fate = self._faults.job_fate(kind)
        job_id = new_object_id(created)
        while job_id in self.jobs:  # pragma: no cover - the counter makes this practically impossible
            job_id = new_object_id(created)
        job = SimJob(
            id=job_id, uid=account.uid, team_id=account.team_id, api=api, created=created,
            queued_for=queued_for, processing_for=processing_for,
            result_shape=self._options.result_shape, upscaled_lag=self._options.upscaled_lag,
            fate=fate, credits=job_cost(api, str(fields.get("resolution", "")), str(fields.get("button", ""))),
            task_id=secrets.token_hex(16),
            **fields,
        )
        image_role, candidate_roles = job.result_roles()
        done_ms = int(job.done_at * 1000)
        for role in dict.fromkeys((image_role, *candidate_roles)):
            name = new_file_name(done_ms)
            job.files[role] = name
            self._files[name] = (job.id, role)
        self.jobs[job.id] = job
        self._counters.add("creates")
        if job.webhook_url and not account.can_sign_webhooks and account.uid not in self._warned_unsigned:
            self._warned_unsigned.add(account.uid)
            log.warning("account uid=%s has no client id or a client secret that is not 16/24/32 bytes: "
                        "its webhooks are not sent", account.uid)
        return job

    def _draw_times(self, account: Account, now: float, upscale: bool) -> tuple[float, float]:
        """The new job's queue wait and processing time under the current timing options (lock held)."""
        timing = self._options.timing
        timer = self._timers.get(account.uid)
        if timer is None or timer.seed != self._options.timing_seed:  # a new seed starts the stream again
            timer = self._timers[account.uid] = JobTimer(self._options.timing_seed)
        in_flight = 0
        if timing != "quick":  # load matters only to the realistic model's long queues
            in_flight = sum(1 for j in self.jobs.values() if j.uid == account.uid and now < j.done_at)
        return timer.draw(timing, upscale=upscale, in_flight=in_flight, speed=self._options.speed)

    # --- lookups ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> SimJob:
        return self.jobs[job_id]

    def inspect(self, job_id: str) -> dict[str, Any] | None:
        """The job document whoever owns it (None if unknown)."""
        with self._lock:
            job = self.jobs.get(str(job_id).lower())
            return job.to_api(self._clock.now(), self.base_url) if job else None

    def file_at(self, name: str, now: float) -> tuple[SimJob, str, int] | None:
        """(job, role, job status at ``now``) of a result file name; None if no job owns it."""
        with self._lock:
            entry = self._files.get(name)
            if entry is None:
                return None
            job = self.jobs[entry[0]]
            return job, entry[1], job.status(now)

    # --- changes from elsewhere -------------------------------------------------------------------

    def source_fetched(self, job_ids: list[str], source_size: tuple[int, int] | None) -> list[SimJob]:
        """The source of ``job_ids`` was fetched (its size) or failed (None); returns the jobs changed."""
        with self._lock:
            now = self._clock.now()
            touched = []
            for job_id in job_ids:
                job = self.jobs.get(job_id)
                if job is None:  # pragma: no cover - jobs are never deleted
                    continue
                job.source_state, job.source_done = ("ok", now) if source_size is not None else ("failed", now)
                if source_size is not None and not job.size:
                    job.size = list(render.output_size(job.scale, job.resolution, source_size))
                self._state.save_job(job)
                touched.append(job)
            return touched

    def restore(self, jobs: list[SimJob]) -> dict[str, tuple[str, list[str]]]:
        """Take back jobs saved by an earlier run; returns the source fetches they still wait for
        (source key -> (url, job ids))."""
        pending: dict[str, tuple[str, list[str]]] = {}
        with self._lock:
            for job in jobs:
                self.jobs[job.id] = job
                for role, name in job.files.items():
                    self._files[name] = (job.id, role)
                if job.source_state == "pending":
                    pending.setdefault(job.source_key, (job.source_url, []))[1].append(job.id)
        return pending

    # --- webhooks ---------------------------------------------------------------------------------

    def next_delivery(self, job_id: str) -> Delivery | None:
        """The callback ``job_id`` owes now (status 2, then 3 or 4), or None."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or not job.webhook_url:
                return None
            account = self._accounts.by_uid(job.uid)
            if account is None or not account.can_sign_webhooks:
                return None
            status = job.status(self._clock.now())
            owed = ([2] if status >= 2 else []) + ([status] if status in (3, 4) else [])
            for step in owed:
                if step in job.hooks_done:
                    continue
                url = ""
                if step == 3:
                    url = f"{self.base_url}/{job.files[job.result_roles()[0]]}"
                return Delivery(job_id=job.id, status=step, url=job.webhook_url,
                                payload={"_id": job.id, "status": step, "type": "image", "url": url},
                                client_id=account.client_id or "", client_secret=account.client_secret or "")
            return None

    def record_delivery(self, job_id: str, status: int, delivered: bool) -> None:
        """Callback ``status`` of ``job_id`` was delivered or given up: it is not owed again."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None and status not in job.hooks_done:
                job.hooks_done.append(status)
                self._state.save_job(job)
