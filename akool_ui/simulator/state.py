"""The Simulator: every piece of simulated Akool state, thread-safe, behind one lock.

Routes (app.py) call ``get_token``, ``authenticate``, ``create_v3``, ``create_v4``, ``press_button``,
``job_info`` and ``read_file``; each returns the ``data`` to answer or raises ``SimError(code)``.
Tests (and the ``/_sim`` control endpoints) drive it with:

* clock: ``advance(seconds)``, ``now()``;
* faults: ``http_status``, ``delay``, ``drop_connection``, ``malformed_json``, ``truncate_body``,
  ``fail_next``, ``stuck_next``, ``expire_tokens``, ``reset_faults``, ``active_faults``;
* options: ``set_options(result_shape=, v4_buttons=, upscaled_lag=, speed=, url_ttl=,
  auth_http_status=)``, ``options()``; ``reset_faults`` restores the constructor's options;
* counters: ``stats()``, ``reset_stats()``;
* accounts: ``add_account(api_key=, client_id=, client_secret=)``; inspection: ``job(job_id)``.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from PIL import Image

from ..akool.models import UPSCALE_BUTTONS
from ..netguard import fetch_public
from . import render
from .accounts import Account, AccountBook
from .clock import Clock
from .codes import SimError
from .faults import CREATE_KINDS, JSON_KINDS, REQUEST_KINDS, FaultBook, normalise_kinds
from .files import FileCache, write_atomic
from .jobs import RESULT_SHAPES, SimJob, new_file_name, new_message_id, new_object_id
from .scheduler import Scheduler
from .validation import CreateSpec, parse_body, parse_button, parse_job_id, parse_v3, parse_v4
from .webhooks import Delivery, WebhookSender

__all__ = ["Simulator", "FileAnswer", "QUEUED_SECONDS", "PROCESSING_SECONDS", "UPSCALE_PROCESSING_SECONDS",
           "DEFAULT_URL_TTL"]

log = logging.getLogger(__name__)

# Simulated durations at speed 1.0 (divided by ``speed``): a quick demo, not Akool's real 30-50 s.
QUEUED_SECONDS = 1.5
PROCESSING_SECONDS = 4.0  # generations and V (variation) jobs
UPSCALE_PROCESSING_SECONDS = 2.5  # U jobs: one image, no new composition
DEFAULT_URL_TTL = 7 * 86400  # Akool: "resources are only valid for 7 days"
CREDITS = {"v3": 2, "v4": 1, "button": 2}  # as in Akool's examples; the v4 page says 1 per image
# Fetching an image-to-image source: bounded in size, and in time by netguard.fetch_public's deadline.
SOURCE_MAX_BYTES = 20 * 1024 * 1024
# Fetch threads: a few slow or dripping source URLs must not stall everyone else's image-to-image jobs.
SOURCE_FETCH_WORKERS = 8
SOURCE_KEEP_SIDE = 768  # sources are only blended at render.BASE_LONG_SIDE; keep a little more
ART_CACHE_ENTRIES = 48  # small (512 px) renders of candidates, reused by grids, U and V children

_KIND_BY_API = {"v3": "create_v3", "v4": "create_v4", "button": "button"}
_AUTH_HTTP_STATUSES = (200, 401, 403)


class FileAnswer:
    """What ``GET /<file>`` answers: a status, a body and its media type."""

    __slots__ = ("status", "body", "media_type")

    def __init__(self, status: int, body: bytes, media_type: str):
        self.status, self.body, self.media_type = status, body, media_type


def _s3_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


NOT_FOUND = FileAnswer(404, _s3_error("NoSuchKey", "The specified key does not exist."), "application/xml")
EXPIRED = FileAnswer(403, _s3_error("AccessDenied", "Request has expired"), "application/xml")


class Simulator:
    """All simulated Akool state: accounts, tokens, jobs, files, faults, options, clock, counters."""

    def __init__(self, *, speed: float = 1.0, state_dir: str | Path | None = None,
                 result_shape: str = "candidates", url_ttl: float = DEFAULT_URL_TTL, v4_buttons: bool = True,
                 upscaled_lag: float = 0.0, auth_http_status: int = 200, base_url: str = "",
                 private_sources: bool = True, trusted_source: Callable[[str], bool] | None = None):
        """``private_sources=False`` fetches image-to-image sources from public addresses only (as Akool
        does; the demo on a shared link must), except URLs ``trusted_source`` vouches for (the app's own
        upload links). True suits a developer's simulator fetching fixtures from 127.0.0.1."""
        self._lock = threading.RLock()
        self._private_sources = private_sources
        self._trusted_source = trusted_source
        self._defaults = self._checked_options(dict(
            result_shape=result_shape, v4_buttons=v4_buttons, upscaled_lag=upscaled_lag, speed=speed,
            url_ttl=url_ttl, auth_http_status=auth_http_status))
        self._options = dict(self._defaults)
        self.base_url = base_url.rstrip("/")
        """Absolute prefix of result URLs (set by SimulatorServer once it knows its port)."""
        self._state_dir = Path(state_dir) if state_dir else None
        if self._state_dir is not None:
            for sub in ("", "jobs", "sources"):
                (self._state_dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.accounts = AccountBook()
        self.faults = FaultBook()
        self.clock = Clock(offset=self._load_json("clock.json", {}).get("offset", 0.0))
        self.scheduler = Scheduler(self.clock)
        self._jobs: dict[str, SimJob] = {}
        self._files: dict[str, tuple[str, str]] = {}  # file name -> (job id, role)
        self._sources: dict[str, bytes] = {}  # source key -> JPEG of the fetched source
        self._cache = FileCache(self._state_dir / "files" if self._state_dir else None)
        self._art: OrderedDict[tuple[str, int], Image.Image] = OrderedDict()
        self._art_lock = threading.Lock()
        self._render_locks: dict[str, threading.Lock] = {}
        self._fetch_pool = ThreadPoolExecutor(max_workers=SOURCE_FETCH_WORKERS, thread_name_prefix="simulator-fetch")
        self._warned_unsigned: set[int] = set()
        self._counts: dict[str, Any] = {}
        self.reset_stats()
        self.webhooks = WebhookSender(self.clock, self.scheduler, self._next_delivery, self._record_delivery,
                                      speed=lambda: float(self._options["speed"]))
        if self._state_dir is not None:
            self.clock.on_change(self._save_clock)
            self._load_state()

    # --- clock ------------------------------------------------------------------------------------

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Move simulated time forward: jobs progress, URLs age, due webhooks fire. Returns now()."""
        return self.clock.advance(seconds)

    # --- accounts ---------------------------------------------------------------------------------

    def add_account(self, api_key: str | None = None, client_id: str | None = None,
                    client_secret: str | None = None) -> Account:
        """Add an account (see AccountBook.add for the defaults); returns it."""
        account = self.accounts.add(api_key=api_key, client_id=client_id, client_secret=client_secret)
        log.debug("simulator account uid=%s added", account.uid)
        return account

    def expire_tokens(self) -> int:
        """Every token issued so far answers 1101 from now on; returns how many were revoked."""
        count = self.accounts.expire_tokens()
        self._save_tokens()
        return count

    # --- options ----------------------------------------------------------------------------------

    @staticmethod
    def _checked_options(opts: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(opts)
        if "result_shape" in out and out["result_shape"] not in RESULT_SHAPES:
            raise ValueError(f"result_shape must be one of {RESULT_SHAPES}")
        if "v4_buttons" in out:
            out["v4_buttons"] = bool(out["v4_buttons"])
        for name in ("upscaled_lag", "speed", "url_ttl"):
            if name in out:
                out[name] = float(out[name])
                if not out[name] >= 0 or (name != "upscaled_lag" and out[name] == 0):
                    raise ValueError(f"{name} must be a positive number")
        if "auth_http_status" in out and out["auth_http_status"] not in _AUTH_HTTP_STATUSES:
            raise ValueError(f"auth_http_status must be one of {_AUTH_HTTP_STATUSES}")
        return out

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Change runtime options; new jobs take result_shape, v4_buttons, upscaled_lag and speed
        as they are when the job is created. Returns all options."""
        unknown = set(options) - set(self._defaults)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(self._defaults)}")
        checked = self._checked_options({k: v for k, v in options.items() if v is not None})
        with self._lock:
            self._options.update(checked)
            return dict(self._options)

    def options(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._options)

    @property
    def auth_http_status(self) -> int:
        return int(self._options["auth_http_status"])

    # --- faults -----------------------------------------------------------------------------------

    def http_status(self, status: int = 502, times: int | None = 1, kinds: Any = None) -> None:
        """Answer matching requests with a bare HTTP ``status`` and an HTML body (not processed)."""
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        self.faults.arm("http_status", normalise_kinds(kinds, REQUEST_KINDS), times, status=status)

    def delay(self, seconds: float, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests, then hold the answer back ``seconds`` (real seconds)."""
        seconds = float(seconds)
        if not 0 <= seconds <= 600:
            raise ValueError("seconds must be between 0 and 600")
        self.faults.arm("delay", normalise_kinds(kinds, REQUEST_KINDS), times, seconds=seconds)

    def drop_connection(self, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests, send the status line and headers (with the real
        Content-Length), then close the connection without a body byte."""
        self.faults.arm("drop_connection", normalise_kinds(kinds, REQUEST_KINDS), times)

    def malformed_json(self, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests and answer HTTP 200 with the first half of the body (invalid
        JSON, consistent Content-Length). Default kinds: all JSON endpoints."""
        self.faults.arm("malformed_json", normalise_kinds(kinds, JSON_KINDS), times)

    def truncate_body(self, times: int | None = 1, kinds: Any = ("file",)) -> None:
        """Send the full Content-Length but only half of the body, then close the connection."""
        self.faults.arm("truncate_body", normalise_kinds(kinds, ("file",)), times)

    def fail_next(self, times: int | None = 1, code: int | None = None, kinds: Any = None) -> None:
        """The next created job(s) end with image_status 4; with ``code``, the create (or button)
        call itself answers that business code instead (e.g. 1108, 1104)."""
        chosen = normalise_kinds(kinds, CREATE_KINDS, CREATE_KINDS)
        if code is None:
            self.faults.arm("fail_job", chosen, times)
        else:
            if isinstance(code, bool) or not isinstance(code, int) or code == 1000:
                raise ValueError("code must be an Akool business code other than 1000")
            self.faults.arm("fail_call", chosen, times, code=code)

    def stuck_next(self, times: int | None = 1, kinds: Any = None) -> None:
        """The next created job(s) reach status 2 and stay there forever."""
        self.faults.arm("stuck_job", normalise_kinds(kinds, CREATE_KINDS, CREATE_KINDS), times)

    def active_faults(self) -> list[dict[str, Any]]:
        return self.faults.active()

    def reset_faults(self) -> None:
        """Disarm every fault and restore the constructor's options (result_shape, speed, ...)."""
        self.faults.clear()
        with self._lock:
            self._options = dict(self._defaults)

    def take_transport_fault(self, kind: str) -> Any:
        """Used by the HTTP layer: the transport fault to apply to this request, if any."""
        return self.faults.take(("http_status", "delay", "drop_connection", "malformed_json", "truncate_body"),
                                kind)

    # --- counters ---------------------------------------------------------------------------------

    def count_request(self, kind: str, job_id: str | None = None) -> None:
        with self._lock:
            self._counts[kind] += 1
            if kind == "info" and job_id:
                polls = self._counts["info_polls"]
                polls[job_id] = polls.get(job_id, 0) + 1

    def stats(self) -> dict[str, Any]:
        """Requests by kind (``token``, ``create_v3``, ``create_v4``, ``button``, ``info``, ``file``),
        ``info_polls`` {job id: n}, ``creates`` (jobs made), ``renders``, ``webhooks``
        {attempts, delivered, failed}."""
        with self._lock:
            out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._counts.items()}
        out["webhooks"] = dict(self.webhooks.stats) if hasattr(self, "webhooks") else {}
        return out

    def reset_stats(self) -> None:
        with self._lock:
            self._counts = {k: 0 for k in REQUEST_KINDS}
            self._counts.update(info_polls={}, creates=0, renders=0)
        if hasattr(self, "webhooks"):
            self.webhooks.stats.update(attempts=0, delivered=0, failed=0)

    # --- API: auth --------------------------------------------------------------------------------

    def get_token(self, raw_body: bytes) -> str:
        body = parse_body(raw_body)
        token = self.accounts.issue_token(body.get("clientId"), body.get("clientSecret"), self.now())
        self._save_tokens()
        return token

    def authenticate(self, authorization: str | None, api_key: str | None) -> Account:
        return self.accounts.authenticate(authorization, api_key, self.now())

    # --- API: jobs --------------------------------------------------------------------------------

    def create_v3(self, account: Account, raw_body: bytes) -> dict[str, Any]:
        return self._create(account, parse_v3(parse_body(raw_body)))[0]

    def create_v4(self, account: Account, raw_body: bytes) -> dict[str, Any] | list[dict[str, Any]]:
        docs = self._create(account, parse_v4(parse_body(raw_body)))
        return docs[0] if len(docs) == 1 else docs  # Akool: an object for batch 1, an array above

    def _create(self, account: Account, spec: CreateSpec) -> list[dict[str, Any]]:
        self._raise_call_fault(_KIND_BY_API[spec.api])
        size = [] if spec.scale == "Original" else list(render.output_size(spec.scale, spec.resolution))
        with self._lock:
            now = self.now()
            jobs = [self._new_job(
                account, spec.api, now + i * 0.001, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                scale=spec.scale, resolution=spec.resolution, size=list(size), source_url=spec.source_url,
                similar=spec.similar, model_name=spec.model_name, webhook_url=spec.webhook_url,
                offer_buttons=bool(spec.api == "v3" or self._options["v4_buttons"]),
            ) for i in range(spec.batch)]
            if spec.source_url:
                for job in jobs:
                    job.source_key, job.source_state = jobs[0].id, "pending"
            for job in jobs:
                self._save_job(job)
            docs = [job.to_api(now, self.base_url) for job in jobs]
        if spec.source_url:
            self._fetch_pool.submit(self._fetch_source, jobs[0].id, spec.source_url, [j.id for j in jobs])
        for job in jobs:
            self._schedule_hooks(job)
        return docs

    def press_button(self, account: Account, raw_body: bytes) -> dict[str, Any]:
        parent_id, button, webhook_url = parse_button(parse_body(raw_body))
        with self._lock:
            now = self.now()
            parent = self._owned_job(account, parent_id)
            if parent.status(now) != 3:
                raise SimError(1010, "the job has not finished successfully")
            if button in parent.used_buttons:
                raise SimError(1010, f"{button} has already been used")
            if button not in parent.offered_buttons():
                raise SimError(1010, f"{button} is not offered for this job")
            self._raise_call_fault("button")
            parent.used_buttons.append(button)
            self._save_job(parent)
            upscale = button in UPSCALE_BUTTONS
            child = self._new_job(
                account, "button", now, prompt=parent.prompt, negative_prompt=parent.negative_prompt,
                scale=parent.scale, resolution=parent.resolution,
                size=list(render.upscale_size(parent.size) if upscale else parent.size),
                similar=parent.similar, model_name=parent.model_name, webhook_url=webhook_url,
                parent_id=parent.id, button=button, op_message_id=new_message_id(), offer_buttons=True,
            )
            self._save_job(child)
            doc = child.to_api(now, self.base_url)
        self._schedule_hooks(child)
        return doc

    def job_info(self, account: Account, image_model_id: Any) -> dict[str, Any]:
        job_id = parse_job_id(image_model_id)
        with self._lock:
            return self._owned_job(account, job_id).to_api(self.now(), self.base_url)

    def job(self, job_id: str) -> dict[str, Any] | None:
        """Inspection for tests: the job document whoever owns it (None if unknown)."""
        with self._lock:
            job = self._jobs.get(str(job_id).lower())
            return job.to_api(self.now(), self.base_url) if job else None

    def _owned_job(self, account: Account, job_id: str) -> SimJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise SimError(1008)
        if job.uid != account.uid:
            raise SimError(1009)
        return job

    def _raise_call_fault(self, kind: str) -> None:
        fault = self.faults.take(("fail_call",), kind)
        if fault is not None:
            raise SimError(int(fault.params["code"]), "simulated failure")

    def _new_job(self, account: Account, api: str, created: float, **fields: Any) -> SimJob:
        """Make, register and name the files of a job (call with the lock held)."""
        kind = _KIND_BY_API[api]
        speed = float(self._options["speed"])
        upscale = api == "button" and str(fields.get("button", "")).startswith("U")
        fate = "ok"
        if self.faults.take(("fail_job",), kind) is not None:
            fate = "fail"
        elif self.faults.take(("stuck_job",), kind) is not None:
            fate = "stuck"
        job_id = new_object_id(created)
        while job_id in self._jobs:  # pragma: no cover - the counter makes this practically impossible
            job_id = new_object_id(created)
        job = SimJob(
            id=job_id, uid=account.uid, team_id=account.team_id, api=api, created=created,
            queued_for=QUEUED_SECONDS / speed,
            processing_for=(UPSCALE_PROCESSING_SECONDS if upscale else PROCESSING_SECONDS) / speed,
            result_shape=str(self._options["result_shape"]), upscaled_lag=float(self._options["upscaled_lag"]),
            fate=fate, credits=CREDITS[api], task_id=secrets.token_hex(16),
            **fields,
        )
        image_role, candidate_roles = job.result_roles()
        done_ms = int(job.done_at * 1000)
        for role in dict.fromkeys((image_role, *candidate_roles)):
            name = new_file_name(done_ms)
            job.files[role] = name
            self._files[name] = (job.id, role)
        self._jobs[job.id] = job
        self._counts["creates"] += 1
        if job.webhook_url and not account.can_sign_webhooks and account.uid not in self._warned_unsigned:
            self._warned_unsigned.add(account.uid)
            log.warning("account uid=%s has no client id or a client secret that is not 16/24/32 bytes: "
                        "its webhooks are not sent", account.uid)
        return job

    # --- image-to-image sources -------------------------------------------------------------------

    def _fetch_source(self, key: str, url: str, job_ids: Iterable[str]) -> None:
        data: bytes | None = None
        size: tuple[int, int] | None = None
        try:
            data_in = fetch_public(url, max_bytes=SOURCE_MAX_BYTES, allow_private=self._private_sources,
                                   trusted=self._trusted_source, user_agent="akool-simulator")
            img, size = render.load_source(data_in)
            img.thumbnail((SOURCE_KEEP_SIDE, SOURCE_KEEP_SIDE))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=92)
            data = buf.getvalue()
        except Exception as exc:  # any failure (network, HTTP status, not an image) fails the job
            log.info("source image for job %s unusable: %s", key, type(exc).__name__)
        with self._lock:
            now = self.now()
            if data is not None:
                self._sources[key] = data
                if self._state_dir is not None:
                    write_atomic(self._state_dir / "sources" / f"{key}.jpeg", data)
            touched = []
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is None:  # pragma: no cover - jobs are never deleted
                    continue
                job.source_state, job.source_done = ("ok", now) if data is not None else ("failed", now)
                if data is not None and size is not None and not job.size:
                    job.size = list(render.output_size(job.scale, job.resolution, size))
                self._save_job(job)
                touched.append(job)
        for job in touched:
            self._schedule_hooks(job)

    def _source_image(self, key: str) -> Image.Image | None:
        with self._lock:
            data = self._sources.get(key)
        if data is None and self._state_dir is not None:
            try:
                data = (self._state_dir / "sources" / f"{key}.jpeg").read_bytes()
            except OSError:
                return None
            with self._lock:
                self._sources[key] = data
        if data is None:
            return None
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")

    # --- files ------------------------------------------------------------------------------------

    def read_file(self, name: str) -> FileAnswer:
        """A result file: 200 with JPEG bytes, 404 if unknown or not ready, 403 once expired."""
        with self._lock:
            entry = self._files.get(name)
            if entry is None:
                return NOT_FOUND
            job = self._jobs[entry[0]]
            now = self.now()
            if job.status(now) != 3:
                return NOT_FOUND
            if now >= job.done_at + float(self._options["url_ttl"]):
                return EXPIRED
        data = self._cache.get(name)
        if data is None:
            with self._lock:
                lock = self._render_locks.setdefault(name, threading.Lock())
            with lock:
                data = self._cache.get(name)
                if data is None:
                    data = self._render(job, entry[1])
                    self._cache.put(name, data)
                    with self._lock:
                        self._counts["renders"] += 1
            with self._lock:
                self._render_locks.pop(name, None)
        return FileAnswer(200, data, "image/jpeg")

    def _render(self, job: SimJob, role: str) -> bytes:
        size = tuple(job.size)
        base = render.base_size(size)
        if role == "u":
            parent = self._jobs[job.parent_id]
            art = self._art_for(parent, job.button_index)
            return render.encode(render.badge(art, job.prompt, f"U{job.button_index} 4K"), size)
        tag = f"V{job.button_index} " if job.api == "button" else ""
        if role == "grid":
            cells = [render.badge(self._art_for(job, n), job.prompt, f"{tag}#{n}") for n in range(1, 5)]
            return render.encode(render.grid(cells, base), size)
        n = int(role[1])
        return render.encode(render.badge(self._art_for(job, n), job.prompt, f"{tag}#{n}"), size)

    def _art_for(self, job: SimJob, n: int) -> Image.Image:
        """Candidate ``n`` of ``job`` at drawing size, without text (cached; do not modify)."""
        key = (job.id, n)
        with self._art_lock:
            art = self._art.get(key)
            if art is not None:
                self._art.move_to_end(key)
                return art
        base = render.base_size(job.size)
        if job.api == "button":  # a variation: candidate `n` is a variation of the parent's candidate
            parent = self._jobs[job.parent_id]
            origin = self._art_for(parent, job.button_index).resize(base, Image.Resampling.BILINEAR)
            art = render.vary(origin, render.seed_for(job.id, n))
        else:
            art = render.generate(render.seed_for(job.prompt, job.id, n), base)
            source = self._source_image(job.source_key) if job.source_key else None
            if source is not None:
                art = render.blend_source(art, source, job.similar)
        with self._art_lock:
            self._art[key] = art
            while len(self._art) > ART_CACHE_ENTRIES:
                self._art.popitem(last=False)
        return art

    # --- webhooks ---------------------------------------------------------------------------------

    def _schedule_hooks(self, job: SimJob) -> None:
        if not job.webhook_url:
            return
        self.webhooks.kick(job.id, job.processing_at)
        if job.fate != "stuck" and job.source_state != "pending":
            self.webhooks.kick(job.id, job.done_at)

    def _next_delivery(self, job_id: str) -> Delivery | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.webhook_url:
                return None
            account = self.accounts.by_uid(job.uid)
            if account is None or not account.can_sign_webhooks:
                return None
            status = job.status(self.now())
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

    def _record_delivery(self, job_id: str, status: int, delivered: bool) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and status not in job.hooks_done:
                job.hooks_done.append(status)
                self._save_job(job)

    # --- persistence ------------------------------------------------------------------------------

    def _load_json(self, name: str, default: Any) -> Any:
        if self._state_dir is None:
            return default
        try:
            return json.loads((self._state_dir / name).read_text("utf-8"))
        except (OSError, ValueError):
            return default

    def _save_json(self, path: Path, data: Any) -> None:
        write_atomic(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))

    def _save_clock(self) -> None:
        if self._state_dir is not None:
            self._save_json(self._state_dir / "clock.json", {"offset": self.clock.offset})

    def _save_tokens(self) -> None:
        if self._state_dir is not None:
            self._save_json(self._state_dir / "tokens.json", self.accounts.tokens_json())

    def _save_job(self, job: SimJob) -> None:
        if self._state_dir is not None:
            self._save_json(self._state_dir / "jobs" / f"{job.id}.json", job.to_json())

    def _load_state(self) -> None:
        assert self._state_dir is not None
        self.accounts.load_tokens(self._load_json("tokens.json", {}))
        pending: dict[str, tuple[str, list[str]]] = {}
        for path in sorted((self._state_dir / "jobs").glob("*.json")):
            try:
                job = SimJob.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("skipping unreadable job file %s: %s", path.name, type(exc).__name__)
                continue
            self._jobs[job.id] = job
            for role, name in job.files.items():
                self._files[name] = (job.id, role)
            if job.source_state == "pending":
                pending.setdefault(job.source_key, (job.source_url, []))[1].append(job.id)
        for key, (url, ids) in pending.items():
            self._fetch_pool.submit(self._fetch_source, key, url, ids)
        for job in self._jobs.values():
            self._schedule_hooks(job)
        log.info("simulator state loaded: %d jobs", len(self._jobs))

    def close(self) -> None:
        """Stop background threads (scheduler, webhook and fetch pools)."""
        self.scheduler.close()
        self.webhooks.close()
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)

