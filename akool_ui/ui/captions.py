"""Lines that explain the controls: what a U/V press acts on, and what Generate will make and cost.

A batch is N separate jobs, each a 2×2 grid of 4 candidates, and every U/V button belongs to one job: the
page says which job and which candidate is selected, so a press can only mean one thing. Pure functions.
"""

from __future__ import annotations

from urllib.parse import quote

from ..jobs import JobRecord
from ..service import CreditEstimate
from .views import ButtonView, md_text

__all__ = [
    "CANDIDATES", "selection_line", "this_button", "cost_line", "balance_line", "full_size_link",
    "upscale_parent_index", "BATCH_LABEL", "BATCH_INFO", "BALANCE_LABEL", "DEMO_BALANCE_LABEL",
]

# Akool returns each generation as a 2×2 grid that the downloader splits into four candidates.
CANDIDATES = 4
BATCH_LABEL = "Jobs (each makes 4 candidates)"
BATCH_INFO = "Each job is a separate 2×2 grid of candidates with its own U/V buttons."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def selection_line(record: JobRecord | None, label: str, index: int, jobs_shown: int) -> str:
    """Which job and candidate the buttons below act on, e.g. "Selected: **Image 2 · #3** …"."""
    if record is None:
        return "Select an image: the buttons below act on the selected one."
    stored = [e for e in record.images if e.is_stored or e.display_path]
    if index < 0:  # a placeholder: the image is still to come
        candidate = " (its images are still coming)"
    else:
        candidate = f" · #{index + 1}" if len(record.images) > 1 else ""
    line = f"Selected: **{md_text(label)}{candidate}**."
    if record.buttons:
        line += f" U1–U4 and V1–V4 act on {md_text(label)}'s candidates #1–#4"
        line += " (click another image to choose)." if jobs_shown > 1 or len(stored) > 1 else "."
    elif record.is_final:
        line += " Akool offers no U/V buttons for this image."
    return line


def this_button(kind: str, record: JobRecord | None, index: int, buttons: list[ButtonView]) -> ButtonView | None:
    """The U or V button (``kind``) of the selected candidate: what "Upscale this"/"Vary this" presses."""
    if record is None or len(record.images) <= 1 and not record.buttons:
        return None
    name = f"{kind}{index + 1}"
    return next((b for b in buttons if b.name == name), None)


BALANCE_LABEL = "Akool credit"
DEMO_BALANCE_LABEL = "Demo credit (simulated)"


def _number(n: float) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"


def balance_line(balance: float | None, *, demo: bool = False) -> str:
    """``"Akool credit: 1,234"``: what is left on the account that pays (\"\" when it is not shown)."""
    if balance is None:
        return ""
    return f"{DEMO_BALANCE_LABEL if demo else BALANCE_LABEL}: {_number(balance)}"


def cost_line(estimate: CreditEstimate, balance: float | None = None, *, demo: bool = False) -> str:
    """What pressing Generate will make and probably cost (learned from what Akool charged here), with the
    credit left when this visitor may see it, and a warning when the one exceeds the other."""
    n = estimate.jobs
    line = (
        f"Generate makes {_plural(n, 'job')} × {CANDIDATES} candidates ({n * CANDIDATES} images) · about "
        f"{_plural(estimate.total, 'credit')}; each U/V press about {_plural(estimate.per_press, 'credit')}."
    )
    if balance is None:
        return line
    line += f"  \n{balance_line(balance, demo=demo)}"
    if estimate.total > balance:
        line += (f"  \n⚠️ About {_plural(estimate.total, 'credit')} is more than the {_number(balance)} left: "
                 "choose fewer jobs or 1080p, or top up at Akool.")
    return line


def full_size_link(link: str | None, record: JobRecord | None, index: int) -> str:
    """A link that opens the selected image's original in a new tab, at 100 % (the gallery shows a preview)."""
    if not link or record is None:
        return ""
    entry = next((e for e in record.images if e.index == index), None)
    size = f" ({entry.width}×{entry.height})" if entry is not None and entry.width and entry.height else ""
    return f'<a href="gradio_api/file={quote(link)}" target="_blank" rel="noopener">Open the original at full size{size} ↗</a>'


def upscale_parent_index(record: JobRecord | None) -> int | None:
    """For a U result, which candidate of its parent it upscales (U3: index 2); else None."""
    button = (record.button or "") if record is not None and record.kind == "button" else ""
    if len(button) == 2 and button[0] == "U" and button[1] in "1234":
        return int(button[1]) - 1
    return None
