"""Faults switched on by name, each limited to request kinds and a number of uses.

``FAULTS`` is the one registry of fault names: the Simulator's switch methods, the ``/_sim/faults/<name>``
control routes and RemoteSimulator's methods are all checked against or derived from it.

Request kinds (how the simulator classifies every API request):

    token       POST /api/open/v3/getToken
    create_v3   POST /api/open/v3/content/image/createbyprompt
    create_v4   POST /api/open/v4/content/image/createBySourcePrompt
    button      POST /api/open/v3/content/image/createbybutton
    info        GET  /api/open/v3/content/image/infobymodelid
    file        GET  /<result file>
    quota       GET  /api/open/v3/faceswap/quota/info  (the account's credit)

A transport fault covers ``quota`` only when armed with it by name (``kinds="quota"``): by default faults
keep to the image endpoints, so a page reading its balance never takes a fault meant for a create.

Transport faults act on one HTTP exchange (see app.FaultMiddleware for exactly how); job faults act on
the jobs a create call makes; the account fault revokes tokens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .codes import SimError

__all__ = [
    "Fault",
    "FaultBook",
    "FaultSpec",
    "FaultSwitches",
    "FAULTS",
    "REQUEST_KINDS",
    "CREATE_KINDS",
    "JSON_KINDS",
    "ALL_KINDS",
    "normalise_kinds",
]

REQUEST_KINDS = ("token", "create_v3", "create_v4", "button", "info", "file")
CREATE_KINDS = ("create_v3", "create_v4", "button")
JSON_KINDS = ("token", "create_v3", "create_v4", "button", "info")
ALL_KINDS = (*REQUEST_KINDS, "quota")  # what a transport fault may be armed for (quota: only by name)


@dataclass(frozen=True)
class FaultSpec:
    """What a fault switch acts on, which request kinds it may cover, and under which names it shows
    in ``active_faults()`` once armed."""

    layer: str  # "transport" (one HTTP exchange) | "job" (jobs a create makes) | "account"
    default_kinds: tuple[str, ...] = ()  # what ``kinds=None`` means
    allowed_kinds: tuple[str, ...] = ()
    armed_as: tuple[str, ...] = ()


# The registry: switch name -> spec, in the order the control routes list them.
FAULTS: dict[str, FaultSpec] = {
    "http_status": FaultSpec("transport", REQUEST_KINDS, ALL_KINDS, ("http_status",)),
    "delay": FaultSpec("transport", REQUEST_KINDS, ALL_KINDS, ("delay",)),
    "drop_connection": FaultSpec("transport", REQUEST_KINDS, ALL_KINDS, ("drop_connection",)),
    "malformed_json": FaultSpec("transport", JSON_KINDS, ALL_KINDS, ("malformed_json",)),
    "truncate_body": FaultSpec("transport", ("file",), ALL_KINDS, ("truncate_body",)),
    "fail_next": FaultSpec("job", CREATE_KINDS, CREATE_KINDS, ("fail_job", "fail_call")),
    "stuck_next": FaultSpec("job", CREATE_KINDS, CREATE_KINDS, ("stuck_job",)),
    "expire_tokens": FaultSpec("account"),
}
_TRANSPORT_ARMED = tuple(name for spec in FAULTS.values() if spec.layer == "transport" for name in spec.armed_as)


def normalise_kinds(kinds: str | Iterable[str] | None, default: tuple[str, ...],
                    allowed: tuple[str, ...] = REQUEST_KINDS) -> frozenset[str]:
    """``kinds`` as a frozenset, ``default`` when None; ValueError on a kind outside ``allowed``."""
    if kinds is None:
        return frozenset(default)
    chosen = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = chosen - set(allowed)
    if unknown or not chosen:
        raise ValueError(f"kinds must be a non-empty subset of {allowed}, got {sorted(chosen)}")
    return chosen


def _kinds_for(switch: str, kinds: Any) -> frozenset[str]:
    spec = FAULTS[switch]
    return normalise_kinds(kinds, spec.default_kinds, spec.allowed_kinds)


def _times(times: int | None) -> int | None:
    if times is None:
        return None
    if isinstance(times, bool) or int(times) != times or times < 1:
        raise ValueError("times must be a positive integer, or None for 'until reset_faults'")
    return int(times)


@dataclass
class Fault:
    """One armed fault. ``remaining`` None means it fires until ``reset_faults``."""

    name: str
    kinds: frozenset[str]
    remaining: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kinds": sorted(self.kinds), "remaining": self.remaining, **self.params}


class FaultBook:
    """Armed faults, oldest first; the first one that matches a request is used up."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, name: str, kinds: frozenset[str], times: int | None, **params: Any) -> Fault:
        fault = Fault(name=name, kinds=kinds, remaining=_times(times), params=params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, names: Iterable[str], kind: str) -> Fault | None:
        """Use up one firing of the oldest fault among ``names`` that covers ``kind``."""
        wanted = set(names)
        with self._lock:
            for fault in self._faults:
                if fault.name in wanted and kind in fault.kinds:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]


class FaultSwitches:
    """One method per name in ``FAULTS``: check the arguments, arm the FaultBook; and the questions
    the simulator asks it while answering a request (which transport fault, does this call fail,
    how does this job end)."""

    def __init__(self, book: FaultBook, expire_tokens: Callable[[], int]):
        self._book = book
        self._expire_tokens = expire_tokens

    # --- switches (the registry's names) ------------------------------------------------------------

    def http_status(self, status: int = 502, times: int | None = 1, kinds: Any = None) -> None:
        """Answer matching requests with a bare HTTP ``status`` and an HTML body (not processed)."""
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        self._book.arm("http_status", _kinds_for("http_status", kinds), times, status=status)

    def delay(self, seconds: float, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests, then hold the answer back ``seconds`` (real seconds)."""
        seconds = float(seconds)
        if not 0 <= seconds <= 600:
            raise ValueError("seconds must be between 0 and 600")
        self._book.arm("delay", _kinds_for("delay", kinds), times, seconds=seconds)

    def drop_connection(self, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests, send the status line and headers (with the real
        Content-Length), then close the connection without a body byte."""
        self._book.arm("drop_connection", _kinds_for("drop_connection", kinds), times)

    def malformed_json(self, times: int | None = 1, kinds: Any = None) -> None:
        """Process matching requests and answer HTTP 200 with the first half of the body (invalid
        JSON, consistent Content-Length). Default kinds: all JSON endpoints."""
        self._book.arm("malformed_json", _kinds_for("malformed_json", kinds), times)

    def truncate_body(self, times: int | None = 1, kinds: Any = ("file",)) -> None:
        """Send the full Content-Length but only half of the body, then close the connection."""
        self._book.arm("truncate_body", _kinds_for("truncate_body", kinds), times)

    def fail_next(self, times: int | None = 1, code: int | None = None, kinds: Any = None) -> None:
        """The next created job(s) end with image_status 4; with ``code``, the create (or button)
        call itself answers that business code instead (e.g. 1108, 1104)."""
        chosen = _kinds_for("fail_next", kinds)
        if code is None:
            self._book.arm("fail_job", chosen, times)
        else:
            if isinstance(code, bool) or not isinstance(code, int) or code == 1000:
                raise ValueError("code must be an Akool business code other than 1000")
            self._book.arm("fail_call", chosen, times, code=code)

    def stuck_next(self, times: int | None = 1, kinds: Any = None) -> None:
        """The next created job(s) reach status 2 and stay there forever."""
        self._book.arm("stuck_job", _kinds_for("stuck_next", kinds), times)

    def expire_tokens(self) -> int:
        """Every token issued so far answers 1101 from now on; returns how many were revoked."""
        return self._expire_tokens()

    # --- what an armed fault does to a request ------------------------------------------------------

    def take_transport(self, kind: str) -> Fault | None:
        """The transport fault to apply to this request of ``kind``, if any (used up)."""
        return self._book.take(_TRANSPORT_ARMED, kind)

    def raise_call_fault(self, kind: str) -> None:
        """SimError(code) if a ``fail_next(code=...)`` covers this create or button call."""
        fault = self._book.take(("fail_call",), kind)
        if fault is not None:
            raise SimError(int(fault.params["code"]), "simulated failure")

    def job_fate(self, kind: str) -> str:
        """How a job made by a call of ``kind`` ends: "fail", "stuck" or "ok"."""
        if self._book.take(("fail_job",), kind) is not None:
            return "fail"
        if self._book.take(("stuck_job",), kind) is not None:
            return "stuck"
        return "ok"
