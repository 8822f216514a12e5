"""The CLI's unknown submission outcomes: exit code 3, a press said from its parent, repeats asked about.

A create or press whose answer was lost (the connection dropped after sending, a malformed answer with no
ids, no answer before ``spend_timeout``) may have been carried out and charged. The command then exits
with ``EXIT_UNKNOWN`` (3) and one sentence saying what happened. A press is first looked up at Akool
itself: the parent's ``used_buttons`` tells whether the press was made (Akool names no job it made, so
none can be printed). A create cannot be looked up (Akool has no such lookup): it is noted in a
small journal in the data folder (a digest of Akool's address and the request, and the time; no
credential), and running the same ``generate`` again is refused with exit code 3 until ``--resend``
says to send it anyway.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from ..akool import AkoolClient, ImageRequest, Job

EXIT_UNKNOWN = 3
JOURNAL_NAME = "cli-unknown-outcomes.json"
JOURNAL_DAYS = 7  # Akool keeps results 7 days: after that the question is moot
PRESS_LOOKS = (1.0, 2.0, 3.0, 5.0)  # pauses before each look at a lost press's parent


class UnknownOutcome(Exception):
    """Ends a command with exit code 3 and ``message``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def unknown_sentence(kind: str, error: BaseException) -> str:
    from ..akool.errors import lost_answer_phrase

    what = lost_answer_phrase(error)
    what = what[:1].upper() + what[1:]
    if kind == "button":
        return (f"error: {what}; Akool may have carried out the press and Akool could not tell us which job it "
                "made. Look at the image with `result --id` before pressing again.")
    return (f"error: {what}; Akool may have made (and charged) these images, and Akool has no way to look them "
            "up. Running the same command again is refused until you add --resend (it may be charged twice).")


class Journal:
    """Unknown creates by a digest of (Akool's address, request): a JSON file, written whole."""

    def __init__(self, folder: Path, base_url: str):
        self.path = Path(folder) / JOURNAL_NAME
        self.base_url = base_url

    def key(self, request: "ImageRequest") -> str:
        payload = json.dumps([self.base_url, request.to_payload()], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        cutoff = time.time() - JOURNAL_DAYS * 86400
        return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and v > cutoff} \
            if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, float]) -> None:
        from ..fileio import write_atomic

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(entries).encode(), mode=0o600, fsync=False)
        except OSError:
            pass  # the journal is a courtesy: never a reason to fail the command

    def sent_at(self, request: "ImageRequest") -> float | None:
        return self._read().get(self.key(request))

    def note(self, request: "ImageRequest") -> None:
        entries = self._read()
        entries[self.key(request)] = time.time()
        self._write(entries)

    def forget(self, request: "ImageRequest") -> None:
        entries = self._read()
        if entries.pop(self.key(request), None) is not None:
            self._write(entries)


def guarded_create(client: "AkoolClient", request: "ImageRequest", journal: Journal, *, resend: bool) -> list["Job"]:
    """``create_images``, refused while the same request has an unknown outcome (unless ``resend``);
    a lost answer is noted and ends the command with exit code 3."""
    from ..akool.errors import AkoolError, maybe_accepted

    at = journal.sent_at(request)
    if at is not None and not resend:
        raise UnknownOutcome(f"error: the same request sent at {time.strftime('%H:%M', time.localtime(at))} has an "
                             "unknown outcome: Akool may have made (and charged) it. Add --resend to send it anyway "
                             "(it may be charged twice).")
    try:
        jobs = client.create_images(request)
    except AkoolError as exc:
        if not maybe_accepted(exc) or getattr(exc, "jobs", None):
            raise
        journal.note(request)
        raise UnknownOutcome(unknown_sentence("generate", exc)) from None
    journal.forget(request)
    return jobs


def settled_press(client: "AkoolClient", job_id: str, button: str, *,
                  sleep: Callable[[float], None] = time.sleep) -> "Job":
    """``press_button``; a lost answer ends the command with exit code 3, said from the parent: the button
    used (carried out, but Akool names no job), still free (nothing made: press again), or not seen."""
    from ..akool.errors import AkoolError, maybe_accepted
    from ..jobs.wording import press_carried_out

    try:
        return client.press_button(job_id, button)
    except AkoolError as exc:
        if not maybe_accepted(exc):
            raise
        error = exc
    for pause in PRESS_LOOKS:
        sleep(pause)
        parent = _look(client, job_id)
        if parent is None:
            continue
        if button in parent.used_buttons:
            raise UnknownOutcome(f"error: {press_carried_out(button)}") from None
        if parent.can_press(button):
            raise UnknownOutcome(f"error: Akool's answer to the {button} press was lost, but Akool did not carry it "
                                 f"out: {button} is still free, you can press it again.") from None
    raise UnknownOutcome(unknown_sentence("button", error))


def _look(client: "AkoolClient", job_id: str) -> Any:
    from ..akool.errors import AkoolError

    try:
        return client.get_job(job_id)
    except AkoolError:
        return None
