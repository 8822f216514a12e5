"""How long finished jobs took, by backend, kind (generate / U / V) and resolution: what the poll
schedule learns from. Kept in the ``durations`` document, so it survives restarts and improves with use.

A key with few samples is topped up with a prior (Akool's "30-50 s" for generations and V jobs, less
for U), so the first job of a fresh install is already polled sensibly. The document is small (at most
``MAX_SAMPLES`` numbers per key), written a second after a change; a damaged one reads as empty:
learning starts again from the prior. Every process on one ``Documents`` learns together: a save adds
this process's new samples to whatever the document holds now (compare-and-set, so none is lost), and
each process reads the others' samples again when the document changed (looked at about every second).
Soon matters most at the start: a replica still on the prior polls a 5 s job at 3 s and 18 s and
learns "10.6 s" from it, a sample that blurs the schedule for every replica until it ages out.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from typing import Any, Callable, Mapping, Sequence

from ..documents import CachedDocument
from ..ports import Documents, StorageError

__all__ = ["DurationBook", "AKOOL_PRIOR", "scaled_prior", "duration_key", "MAX_SAMPLES", "ENOUGH_SAMPLES",
           "DURATIONS_DOCUMENT"]

log = logging.getLogger(__name__)

DURATIONS_DOCUMENT = "durations"
# The most recent jobs tell most about the service today; 200 per key is plenty for quantiles.
MAX_SAMPLES = 200
# With this many own samples a key no longer needs the prior.
ENOUGH_SAMPLES = 12
# Writes are batched: a burst of jobs finishing together is one write. Other processes' samples are
# looked for as often (a version check: one small read).
SAVE_DELAY_SECONDS = 1.0
# A duration outside this range is a clock jump or a job resumed days later, not the service's speed.
PLAUSIBLE_SECONDS = (0.001, 3600.0)

# The prior, seconds from create to finish on Akool, as pseudo-samples spread like the service's own
# description ("roughly 30-50 s"; 4K upscales of one image are quicker).
AKOOL_PRIOR: dict[str, tuple[float, ...]] = {
    "generate": (30.0, 32.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 42.0, 45.0, 50.0),
    "variation": (30.0, 32.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 42.0, 45.0, 50.0),
    "upscale": (16.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 26.0, 30.0),
}


def scaled_prior(seconds: Mapping[str, float]) -> dict[str, tuple[float, ...]]:
    """A prior for a backend whose jobs of each kind take about ``seconds[kind]`` (e.g. the demo's
    simulator): the Akool prior's shape, moved to that median."""
    out = {}
    for kind, typical in seconds.items():
        base = AKOOL_PRIOR.get(kind, AKOOL_PRIOR["generate"])
        median = sorted(base)[len(base) // 2]
        out[kind] = tuple(v * typical / median for v in base)
    return out


def duration_key(backend: str, kind: str, resolution: str | None) -> str:
    """``backend/kind/resolution``, e.g. ``akool/generate/4k``."""
    return f"{backend}/{kind}/{(resolution or 'default').lower()}"


class DurationBook:
    """Samples (seconds from create to finish) by key; thread-safe. ``documents`` None keeps them in memory."""

    def __init__(self, documents: Documents | None,
                 priors: Mapping[str, Mapping[str, Sequence[float]]] | None = None, *,
                 timer: Callable[[float, Callable[[], None]], threading.Timer] | None = None):
        """``priors``: backend -> kind -> pseudo-samples (default: Akool's for every backend)."""
        self.documents = documents
        self._priors = {b: {k: tuple(v) for k, v in p.items()} for b, p in (priors or {}).items()}
        self._lock = threading.Lock()
        self._doc: CachedDocument[dict[str, list[float]]] = CachedDocument(
            documents, DURATIONS_DOCUMENT, parse=_parse, dump=_dump, max_age=SAVE_DELAY_SECONDS)
        self._pending: dict[str, list[float]] = defaultdict(list)
        """Samples recorded here and not yet saved."""
        self._recorded = 0
        self._save_timer: threading.Timer | None = None
        self._make_timer = timer or threading.Timer

    @property
    def version(self) -> int:
        """Grows with every sample recorded or read (callers cache what they derive from the samples)."""
        with self._lock:
            self._doc.get()
            return self._recorded + self._doc.changes

    def record(self, key: str, seconds: float) -> None:
        """One more finished job of ``key`` that took ``seconds``; implausible values are ignored."""
        if not (math.isfinite(seconds) and PLAUSIBLE_SECONDS[0] <= seconds <= PLAUSIBLE_SECONDS[1]):
            return
        with self._lock:
            pending = self._pending[key]
            pending.append(round(float(seconds), 3))
            del pending[:-MAX_SAMPLES]
            self._recorded += 1
            if self.documents is None:
                self._save_pending()  # in memory: straight into the samples
            elif self._save_timer is None:
                self._save_timer = self._make_timer(SAVE_DELAY_SECONDS, self.save)
                self._save_timer.daemon = True
                self._save_timer.start()

    def learned(self, key: str) -> list[float]:
        with self._lock:
            saved = self._doc.get().get(key, [])
            return (saved + self._pending.get(key, []))[-MAX_SAMPLES:]

    def samples(self, key: str) -> list[float]:
        """What to plan with: the key's own samples, topped up with the prior while they are few."""
        own = self.learned(key)
        if len(own) >= ENOUGH_SAMPLES:
            return own
        backend, kind = key.split("/")[:2]
        prior = self._priors.get(backend, AKOOL_PRIOR).get(kind) or AKOOL_PRIOR.get(kind) or AKOOL_PRIOR["generate"]
        # every own sample replaces one pseudo-sample, from the ends of the prior inwards
        keep = max(0, len(prior) - len(own))
        trimmed = sorted(prior)[(len(prior) - keep) // 2:][:keep]
        return own + list(trimmed)

    def save(self) -> None:
        """Add the new samples to the document now (also called a few seconds after a change, and on close)."""
        with self._lock:
            self._save_timer = None
            self._save_pending()

    def close(self) -> None:
        with self._lock:
            timer, self._save_timer = self._save_timer, None
        if timer is not None:
            timer.cancel()
        self.save()

    def _save_pending(self) -> None:
        """Merge the pending samples into the document (the caller holds the lock); kept for the next save
        when that fails."""
        if not self._pending:
            return
        pending = {k: list(v) for k, v in self._pending.items() if v}

        def merge(samples: dict[str, list[float]]) -> None:
            for key, new in pending.items():
                merged = samples.setdefault(key, [])
                merged.extend(new)
                del merged[:-MAX_SAMPLES]

        try:
            self._doc.update(merge)
        except StorageError as exc:
            log.warning("could not save job durations: %s", exc)
            return
        self._pending.clear()


def _dump(samples: dict[str, list[float]]) -> dict[str, Any]:
    return {"version": 1, "samples": {k: list(v) for k, v in samples.items()}}


def _parse(raw: Any) -> dict[str, list[float]]:
    if raw is None:
        return {}
    try:
        samples = {
            str(k): [float(x) for x in v if isinstance(x, (int, float)) and math.isfinite(x)][-MAX_SAMPLES:]
            for k, v in raw["samples"].items() if isinstance(v, list) and str(k).count("/") == 2
        }
        return {k: v for k, v in samples.items() if v}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("the job durations document is malformed; learning again from the prior")
        return {}
