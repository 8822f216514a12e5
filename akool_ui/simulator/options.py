"""Runtime options of the simulator: checked once, changed by ``set_options``, restored by ``reset``.

``result_shape``, ``v4_buttons``, ``upscaled_lag``, ``speed``, ``timing`` and ``timing_seed`` are read
when a job is created (a job keeps them); ``url_ttl``, ``auth_http_status`` and ``poll_limit`` are read
on every request.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

from .jobs import RESULT_SHAPES
from .timing import DEFAULT_TIMING_SEED, TIMINGS

__all__ = ["Options", "DEFAULT_URL_TTL", "AUTH_HTTP_STATUSES"]

DEFAULT_URL_TTL = 7 * 86400  # Akool: "resources are only valid for 7 days"
# 200 is what Akool's docs imply for 1101/1102; 401/403 exist for clients that must cope with them.
AUTH_HTTP_STATUSES = (200, 401, 403)


def _checked_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    """``opts`` with numbers as floats; ValueError on a value the simulator cannot honour."""
    out = dict(opts)
    if "result_shape" in out and out["result_shape"] not in RESULT_SHAPES:
        raise ValueError(f"result_shape must be one of {RESULT_SHAPES}")
    if "v4_buttons" in out:
        out["v4_buttons"] = bool(out["v4_buttons"])
    for name in ("upscaled_lag", "speed", "url_ttl"):
        if name in out:
            out[name] = float(out[name])
            if not out[name] >= 0 or (name != "upscaled_lag" and out[name] == 0):
                raise ValueError(f"{name} must be a positive number")
    if "auth_http_status" in out and out["auth_http_status"] not in AUTH_HTTP_STATUSES:
        raise ValueError(f"auth_http_status must be one of {AUTH_HTTP_STATUSES}")
    if "timing" in out and out["timing"] not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}")
    if "timing_seed" in out:
        seed = out["timing_seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("timing_seed must be a whole number")
    if "poll_limit" in out:
        out["poll_limit"] = float(out["poll_limit"])
        if not 0 <= out["poll_limit"] < float("inf"):  # also refuses NaN
            raise ValueError("poll_limit must be a number >= 0 (0 turns it off)")
    return out


class Options:
    """The constructor's options (the defaults ``reset`` restores) and the current ones."""

    def __init__(self, *, result_shape: str, v4_buttons: bool, upscaled_lag: float, speed: float,
                 url_ttl: float, auth_http_status: int, timing: str = "quick",
                 timing_seed: int = DEFAULT_TIMING_SEED, poll_limit: float = 0.0):
        self._lock = threading.Lock()
        self._defaults = _checked_options(dict(
            result_shape=result_shape, v4_buttons=v4_buttons, upscaled_lag=upscaled_lag, speed=speed,
            url_ttl=url_ttl, auth_http_status=auth_http_status, timing=timing, timing_seed=timing_seed,
            poll_limit=poll_limit))
        self._current = dict(self._defaults)

    def set(self, **options: Any) -> dict[str, Any]:
        """Change the given options (None = leave as is); returns all options."""
        unknown = set(options) - set(self._defaults)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(self._defaults)}")
        checked = _checked_options({k: v for k, v in options.items() if v is not None})
        with self._lock:
            self._current.update(checked)
            return dict(self._current)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._current)

    def reset(self) -> None:
        """Back to the constructor's options."""
        with self._lock:
            self._current = dict(self._defaults)

    @property
    def result_shape(self) -> str:
        return str(self._current["result_shape"])

    @property
    def v4_buttons(self) -> bool:
        return bool(self._current["v4_buttons"])

    @property
    def upscaled_lag(self) -> float:
        return float(self._current["upscaled_lag"])

    @property
    def speed(self) -> float:
        return float(self._current["speed"])

    @property
    def url_ttl(self) -> float:
        return float(self._current["url_ttl"])

    @property
    def auth_http_status(self) -> int:
        return int(self._current["auth_http_status"])

    @property
    def timing(self) -> str:
        return str(self._current["timing"])

    @property
    def timing_seed(self) -> int:
        return int(self._current["timing_seed"])

    @property
    def poll_limit(self) -> float:
        """Status requests per second one account may make at speed 1 (times ``speed``); 0 = no limit."""
        return float(self._current["poll_limit"])
