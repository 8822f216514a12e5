"""Every sentence and word the page shows about a job, in one place (one vocabulary for states).

Lookups never raise: a state added later without wording reads as its own name, not a KeyError.
"""

from __future__ import annotations

from ..akool.errors import JobFailed, error_for_code
from .states import RecordState

__all__ = [
    "state_label",
    "state_phrase",
    "state_icon",
    "failed_sentence",
    "TIMED_OUT_HINT",
    "STOPPED_HINT",
    "NO_ADDRESS",
    "EXPIRED_ONE",
    "EXPIRED_ALL",
    "DOWNLOAD_RETRYING",
    "NOT_AN_IMAGE",
    "DOWNLOAD_GAVE_UP",
    "OUTCOME_UNKNOWN",
    "PRESS_OUTCOME_UNKNOWN",
    "some_missing",
    "outcome_unknown",
    "not_found",
    "press_carried_out",
    "press_released",
    "repeat_held",
    "repeat_asked",
]

_PHRASES = {
    RecordState.QUEUED: "queued",
    RecordState.PROCESSING: "processing",
    RecordState.DOWNLOADING: "saving the results",
    RecordState.SUCCEEDED: "done",
    RecordState.FAILED: "failed",
    RecordState.TIMED_OUT: "timed out",
    RecordState.STOPPED: "stopped",
    RecordState.SENDING: "sending to Akool",
    RecordState.UNKNOWN: "outcome unknown",
}
# Plain symbols, not emoji: they render in every font (headless browsers often have no emoji font).
_ICONS = {
    RecordState.QUEUED: "○",
    RecordState.PROCESSING: "◐",
    RecordState.DOWNLOADING: "↓",
    RecordState.SUCCEEDED: "✓",
    RecordState.FAILED: "✗",
    RecordState.TIMED_OUT: "◷",
    RecordState.STOPPED: "■",
    RecordState.SENDING: "→",
    RecordState.UNKNOWN: "?",
}

TIMED_OUT_HINT = "Akool may still finish it; press “Check again” in a while."
STOPPED_HINT = "No longer watched; Akool may still finish it. Press “Check again” to pick it up."

# Why a result image is missing (stored on its entry, shown beside the job).
NO_ADDRESS = "Akool gave no address for this image."
EXPIRED_ONE = "Akool no longer has this image (its copies expire after 7 days)."
EXPIRED_ALL = "Akool no longer has these images (its copies expire after 7 days)."
DOWNLOAD_RETRYING = "The image could not be downloaded; retrying."
NOT_AN_IMAGE = "Akool sent a file that is not a valid image; retrying."
DOWNLOAD_GAVE_UP = "The images could not be downloaded from Akool. Use “check again” to retry."
# A create or press that got no answer: it may have been made (and charged); never invite a second try.
OUTCOME_UNKNOWN = (
    "Outcome unknown: Akool may have accepted this and made the images; if it did, they will appear here. "
    "Dismiss this entry once you are sure it did not."
)
PRESS_OUTCOME_UNKNOWN = (
    "This button was pressed, but Akool's answer never arrived: it may have accepted it, and the result "
    "will appear in your history if it did. It is not offered again, so it cannot be charged twice."
)


def outcome_unknown(kind: str, what_happened: str) -> str:
    """An unknown outcome, said with what happened to the answer (``errors.lost_answer_phrase``)."""
    what = what_happened[:1].upper() + what_happened[1:]
    if kind == "button":
        return (f"{what}. Akool may have carried out this press; we are looking at the image to find out, "
                "and the button is not offered meanwhile, so it cannot be charged twice.")
    return (f"{what}. Akool may have accepted this and made the images; we are looking for them, so "
            "please don't send it again yet.")


def not_found(kind: str, what_happened: str) -> str:
    """The search for an unknown outcome's job ended without finding it."""
    what = what_happened[:1].upper() + what_happened[1:]
    if kind == "button":
        return (f"{what}, and Akool could not be asked about it. The button is offered again: if the first "
                "press went through, Akool will refuse a second one, so it cannot be charged twice.")
    return (f"{what}, and the images could not be found: Akool may have made them, or may not. If you send "
            "the same request again it may be charged twice; dismiss this entry once you are sure.")


def press_carried_out(button: str) -> str:
    """A lost press Akool shows as done (``used_buttons``): its answer names no job, so none can be fetched."""
    return (f"Akool carried out this {button} press, but it does not say which job the press made, so its image "
            "cannot be fetched here without a webhook; nothing more will be charged.")


def press_released(button: str) -> str:
    return f"Akool's answer to the {button} press was lost, but Akool did not carry it out: {button} is offered again."


def repeat_held(at: str) -> str:
    return (f"The same request sent at {at} has no answer yet: Akool may already be making these images, and "
            "we are still looking for them. Please wait a moment before sending it again.")


def repeat_asked(at: str) -> str:
    return (f"The same request sent at {at} lost its answer: Akool may have made (and charged) it, and its "
            "images could not be found. Press Generate again to send it anyway; it may be charged twice.")


def state_label(state: RecordState) -> str:
    """The state's name as a word (``timed out``), for logs, the CLI and API summaries."""
    return str(getattr(state, "value", state)).replace("_", " ")


def state_phrase(state: RecordState) -> str:
    """How the status line says the state (``saving the results``)."""
    return _PHRASES.get(state, state_label(state))


def state_icon(state: RecordState) -> str:
    return _ICONS.get(state, "·")


def failed_sentence(error_code: int | None) -> str:
    """The one sentence for a job Akool failed: by its code (Akool's own text is technical)."""
    return error_for_code(error_code).default_user_message if error_code else JobFailed.default_user_message


def some_missing(missing: int, total: int, *, retryable: bool = True) -> str:
    sentence = f"{missing} of {total} images could not be downloaded."
    return f"{sentence} Use “check again” to retry." if retryable else sentence
