"""How long finished jobs took, by backend, kind (generate / U / V) and resolution: what the poll
schedule learns from. Kept in ``<cache>/durations.json``, so it survives restarts and improves with use.

A key with few samples is topped up with a prior (Akool's "30-50 s" for generations and V jobs, less
for U), so the first job of a fresh install is already polled sensibly. The file is small (at most
``MAX_SAMPLES`` numbers per key), rewritten atomically a few seconds after a change; a damaged file is
ignored (and replaced at the next write): learning starts again from the prior. Several processes on
one cache each keep their own copy and the last one to write wins: samples lost that way only slow
learning down.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..fileio import write_atomic

__all__ = ["DurationBook", "AKOOL_PRIOR", "scaled_prior", "duration_key", "MAX_SAMPLES", "ENOUGH_SAMPLES",
           "FILE_NAME"]

log = logging.getLogger(__name__)

FILE_NAME = "durations.json"
# The most recent jobs tell most about the service today; 200 per key is plenty for quantiles.
MAX_SAMPLES = 200
# With this many own samples a key no longer needs the prior.
ENOUGH_SAMPLES = 12
# Writes are batched: a burst of jobs finishing together is one write.
SAVE_DELAY_SECONDS = 5.0
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
    """Samples (seconds from create to finish) by key; thread-safe. ``path`` None keeps them in memory."""

    def __init__(self, path: Path | None, priors: Mapping[str, Mapping[str, Sequence[float]]] | None = None, *,
                 timer: Callable[[float, Callable[[], None]], threading.Timer] | None = None):
        """``priors``: backend -> kind -> pseudo-samples (default: Akool's for every backend)."""
        self.path = path
        self._priors = {b: {k: tuple(v) for k, v in p.items()} for b, p in (priors or {}).items()}
        self._lock = threading.Lock()
        self._samples: dict[str, list[float]] = self._load()
        self._version = 0
        self._save_timer: threading.Timer | None = None
        self._make_timer = timer or threading.Timer

    @property
    def version(self) -> int:
        """Grows with every sample recorded (callers cache what they derive from the samples)."""
        return self._version

    def record(self, key: str, seconds: float) -> None:
        """One more finished job of ``key`` that took ``seconds``; implausible values are ignored."""
        if not (math.isfinite(seconds) and PLAUSIBLE_SECONDS[0] <= seconds <= PLAUSIBLE_SECONDS[1]):
            return
        with self._lock:
            samples = self._samples.setdefault(key, [])
            samples.append(round(float(seconds), 3))
            del samples[:-MAX_SAMPLES]
            self._version += 1
            if self.path is not None and self._save_timer is None:
                self._save_timer = self._make_timer(SAVE_DELAY_SECONDS, self.save)
                self._save_timer.daemon = True
                self._save_timer.start()

    def learned(self, key: str) -> list[float]:
        with self._lock:
            return list(self._samples.get(key, ()))

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
        """Write the samples now (also called a few seconds after a change, and on close)."""
        with self._lock:
            self._save_timer = None
            data = {"version": 1, "samples": {k: list(v) for k, v in self._samples.items()}}
        if self.path is None:
            return
        try:
            write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode("utf-8"), fsync=False)
        except OSError as exc:
            log.warning("could not save job durations to %s: %s", self.path, exc.strerror or exc)

    def close(self) -> None:
        with self._lock:
            timer, self._save_timer = self._save_timer, None
        if timer is not None:
            timer.cancel()
            self.save()

    def _load(self) -> dict[str, list[float]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            samples = {
                str(k): [float(x) for x in v if isinstance(x, (int, float)) and math.isfinite(x)][-MAX_SAMPLES:]
                for k, v in raw["samples"].items() if isinstance(v, list) and str(k).count("/") == 2
            }
            return {k: v for k, v in samples.items() if v}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("job durations file %s is unreadable; learning again from the prior", self.path)
            return {}
