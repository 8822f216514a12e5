"""Progress while waiting: a bar per running job from its phase and how long such jobs typically take here,
and a placeholder tile per image still to come.

The typical duration is the one the poll schedule learns from the jobs this app has seen finish
(``service/durations.py``: per backend, kind and resolution, kept across restarts), so the demo's fast
simulator and Akool's ~35 s both read right; without it, Akool's documented typical time stands in.
"""

from __future__ import annotations



from ..jobs import JobRecord, RecordState

__all__ = ["typical_seconds", "progress_text", "expected_images", "BAR_CELLS"]

BAR_CELLS = 10
_DEFAULT_SECONDS = {"generate": 35.0, "button": 45.0}
# Where each phase sits on the bar: a queued job has barely started; saving the results is nearly done.
_PHASE_SPAN = {
    RecordState.QUEUED: (0.0, 0.15),
    RecordState.PROCESSING: (0.15, 0.9),
    RecordState.DOWNLOADING: (0.9, 0.99),
}


def _kind(record: JobRecord) -> str:
    return "button" if record.kind == "button" else "generate"


def typical_seconds(record: JobRecord, learned: float | None) -> float:
    """The learned typical duration, or Akool's documented time for the job's kind when none is known."""
    return learned if learned and learned > 0 else _DEFAULT_SECONDS[_kind(record)]


def progress_text(record: JobRecord, typical: float, now: float | None = None) -> str:
    """`` ▰▰▰▱▱▱▱▱▱▱ about 20 s left`` for a running job ("" for any other)."""
    span = _PHASE_SPAN.get(record.state)
    if span is None or not record.is_in_flight:
        return ""
    elapsed = record.elapsed(now)
    start, end = span
    fraction = min(end, max(start, elapsed / typical if typical > 0 else start))
    filled = int(round(fraction * BAR_CELLS))
    bar = "▰" * filled + "▱" * (BAR_CELLS - filled)
    left = typical - elapsed
    if left >= 1:
        return f" {bar} about {int(round(left))} s left"
    return f" {bar} taking longer than usual"


def expected_images(record: JobRecord) -> int:
    """How many images a job will bring: a generation and a V press a 2×2 grid of 4, a U press one."""
    if record.kind == "button" and (record.button or "").startswith("U"):
        return 1
    return 4
