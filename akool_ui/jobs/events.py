"""What happened to a job, as small typed events: a subscriber learns what changed, not a snapshot to diff.

Every event names its job and carries the record as it is after the change (for whoever must render
it); the class says what changed. Lifecycle transitions (``jobs.lifecycle``) return them; the tracker
publishes exactly those, so "nothing changed" means no event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .record import JobRecord
    from .states import RecordState

__all__ = [
    "JobEvent",
    "Current",
    "StateChanged",
    "Queued",
    "Processing",
    "Downloading",
    "ImageReady",
    "ImageFailed",
    "ButtonsChanged",
    "Succeeded",
    "Failed",
    "TimedOut",
    "Stopped",
    "state_event",
]


@dataclass(frozen=True)
class JobEvent:
    """Something happened to ``record.id``; ``record`` is the job after it (never mutate it)."""

    record: "JobRecord"

    @property
    def job_id(self) -> str:
        return self.record.id

    @property
    def state(self) -> "RecordState":
        return self.record.state


@dataclass(frozen=True)
class Current(JobEvent):
    """Where the job is right now: the first event a new subscriber gets for each job."""


@dataclass(frozen=True)
class StateChanged(JobEvent):
    """The job moved to another state (the subclasses name which)."""


class Queued(StateChanged):
    """Akool accepted the job and it waits for a worker."""


class Processing(StateChanged):
    """Akool is rendering it."""


class Downloading(StateChanged):
    """Akool is done; the results are being copied to local disk."""


class Succeeded(StateChanged):
    """Every result that could be fetched is on local disk."""


class Failed(StateChanged):
    """The job failed for good; ``message`` is the sentence for the page."""

    @property
    def message(self) -> str:
        return self.record.error_message or ""


class TimedOut(StateChanged):
    """We stopped waiting at the deadline; "check again" resumes it."""


class Stopped(StateChanged):
    """Someone stopped watching it; Akool may still finish it and "check again" resumes it."""


@dataclass(frozen=True)
class ImageReady(JobEvent):
    """Result ``index`` is stored (original and preview)."""

    index: int = 0


@dataclass(frozen=True)
class ImageFailed(JobEvent):
    """Result ``index`` could not be fetched this time (or has expired at Akool)."""

    index: int = 0


@dataclass(frozen=True)
class ButtonsChanged(JobEvent):
    """The buttons Akool offers, or those already used, changed (U/V rows follow)."""


def state_event(record: "JobRecord") -> StateChanged:
    """The event for ``record`` having just entered its current state."""
    from .states import RecordState

    by_state = {
        RecordState.QUEUED: Queued,
        RecordState.PROCESSING: Processing,
        RecordState.DOWNLOADING: Downloading,
        RecordState.SUCCEEDED: Succeeded,
        RecordState.FAILED: Failed,
        RecordState.TIMED_OUT: TimedOut,
        RecordState.STOPPED: Stopped,
    }
    return by_state.get(record.state, StateChanged)(record)
