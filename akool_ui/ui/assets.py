"""Static files the page uses: CSS, placeholder tiles and the example source image (``<repo>/assets``)."""

from __future__ import annotations

from pathlib import Path

from ..jobs import RecordState

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
CSS_PATH = ASSETS_DIR / "studio.css"
EXAMPLE_SOURCE = ASSETS_DIR / "example-source.jpg"

_PLACEHOLDERS = {
    RecordState.FAILED: "placeholder-failed.png",
    RecordState.TIMED_OUT: "placeholder-timed-out.png",
    RecordState.UNKNOWN: "placeholder-timed-out.png",  # the same clock: "wait and see"
}


def placeholder_for(state: RecordState) -> Path:
    """The history tile for a job without a stored image (still running, failed or timed out)."""
    return ASSETS_DIR / _PLACEHOLDERS.get(state, "placeholder-pending.png")
