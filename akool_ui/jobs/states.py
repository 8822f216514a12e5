"""The states a job and each of its images can be in, from this app's point of view."""

from __future__ import annotations

from enum import Enum

__all__ = ["RecordState", "ImageState"]


class RecordState(str, Enum):
    """Where a job is (Akool's four states plus our own). Add a state here, in ``jobs.wording`` and in
    ``jobs.events.state_event``; readers that meet a state they do not know read it as resumable."""

    QUEUED = "queued"  # Akool accepted it; waiting for a worker
    PROCESSING = "processing"  # Akool is rendering it
    DOWNLOADING = "downloading"  # Akool is done; we are copying the results to local disk
    SUCCEEDED = "succeeded"  # done, and every result we could fetch is on local disk
    FAILED = "failed"  # Akool (or our download) failed for good; see error_code / error_message
    TIMED_OUT = "timed_out"  # we stopped waiting at our deadline; Akool may still finish it (resumable)
    STOPPED = "stopped"  # someone stopped watching it; Akool has no cancel, so it is kept (resumable)
    # Write-ahead intents: kept under a local id (``jobs.record.INTENT_ID_PREFIX``) until Akool's job ids are known.
    SENDING = "sending"  # a create or press is on its way to Akool (recorded before it is sent)
    UNKNOWN = "unknown"  # it was sent but no answer came (or the app stopped): Akool may have made the images

    @property
    def is_in_flight(self) -> bool:
        """Someone must still poll Akool or download results."""
        return self in (RecordState.QUEUED, RecordState.PROCESSING, RecordState.DOWNLOADING)

    @property
    def is_final(self) -> bool:
        """Nothing happens to the job unless someone asks (TIMED_OUT and STOPPED can be resumed)."""
        return not self.is_in_flight

    @property
    def is_resumable(self) -> bool:
        """"Check again" may pick the job up where it was left."""
        return self in (RecordState.TIMED_OUT, RecordState.STOPPED)

    @property
    def is_intent(self) -> bool:
        """A request recorded before it was sent, whose job ids are not known (yet)."""
        return self in (RecordState.SENDING, RecordState.UNKNOWN)

    @property
    def label(self) -> str:
        from .wording import state_label

        return state_label(self)


class ImageState(str, Enum):
    """One result image's local copy."""

    PENDING = "pending"  # known (or expected), not downloaded yet
    STORED = "stored"  # original and preview on local disk
    EXPIRED = "expired"  # Akool's URL no longer serves it and we never stored it
    ERROR = "error"  # download or validation failed; retried up to MAX_DOWNLOAD_ATTEMPTS
    EVICTED = "evicted"  # original removed by the cache size limit; preview and remote URL kept
