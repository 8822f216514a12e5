"""All configuration, read once from environment variables into a frozen Settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DEFAULT_BASE_URL = "https://openapi.akool.com"
# The official demo polls every 3 s; we start faster and back off (see service/tracker.py).
DEFAULT_POLL_INTERVAL = 1.0
# Real jobs take 30-50 s; ten minutes leaves room for a long queue before we call it "timed out".
DEFAULT_JOB_DEADLINE = 600.0
DEFAULT_CACHE_LIMIT_GB = 5.0
# With a public URL the app is shared by strangers: one visitor may hold at most this fraction of the
# cache, so a burst of theirs cannot crowd out everyone else. A local app has one user: the whole cache.
SHARED_OWNER_FRACTION = 0.25
# A result must outlive a browser session's first look at it before any eviction may touch it.
DEFAULT_CACHE_MIN_AGE_HOURS = 1.0


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("SPACE_ID") or env.get("SPACE_HOST"):  # Hugging Face Spaces: the app folder persists
        return Path(".cache") / "akool-studio"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "akool-studio"


def _parse_float(name: str, raw: str, minimum: float | None) -> float:
    """``raw`` as a number greater than 0 (or at least ``minimum`` when given); ValueError naming ``name``."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw[:40]!r}") from None
    if minimum is None and value <= 0:
        raise ValueError(f"{name} must be greater than 0")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None) -> float:
    raw = env.get(name, "").strip()
    return _parse_float(name, raw, minimum) if raw else default


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    """Like ``_float`` but None when unset: the default depends on other settings."""
    raw = env.get(name, "").strip()
    return _parse_float(name, raw, None) if raw else None


@dataclass(frozen=True)
class Settings:
    """What the app was told by its environment. Secrets are kept out of ``repr``."""

    api_key: str | None = field(default=None, repr=False)
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    cache_dir: Path = Path(".cache") / "akool-studio"
    cache_limit_gb: float = DEFAULT_CACHE_LIMIT_GB
    cache_owner_limit_gb: float | None = None  # None: see owner_cache_limit_gb
    cache_min_age_hours: float = DEFAULT_CACHE_MIN_AGE_HOURS
    public_url: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    job_deadline: float = DEFAULT_JOB_DEADLINE
    demo_speed: float = 1.0
    base_url_from_env: bool = False

    @property
    def has_server_credentials(self) -> bool:
        return bool(self.api_key or (self.client_id and self.client_secret))

    @property
    def owner_cache_limit_gb(self) -> float:
        """One owner's quota of original images: as set, else the whole limit locally and a quarter of it
        when the app is shared (has a public URL)."""
        if self.cache_owner_limit_gb is not None:
            return self.cache_owner_limit_gb
        return self.cache_limit_gb * (SHARED_OWNER_FRACTION if self.public_url else 1.0)

    @property
    def demo_mode(self) -> bool:
        """No credentials anywhere and no explicit backend: run against the in-process simulator."""
        return not self.has_server_credentials and not self.base_url_from_env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        space_host = env.get("SPACE_HOST", "").strip()
        public_url = env.get("AKOOL_PUBLIC_URL", "").strip() or (f"https://{space_host}" if space_host else "")
        base_url = env.get("AKOOL_BASE_URL", "").strip()
        cache_dir = env.get("AKOOL_CACHE_DIR", "").strip()
        return cls(
            api_key=env.get("AKOOL_API_KEY", "").strip() or None,
            client_id=env.get("AKOOL_CLIENT_ID", "").strip() or None,
            client_secret=env.get("AKOOL_CLIENT_SECRET", "").strip() or None,
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            cache_dir=Path(cache_dir).expanduser() if cache_dir else _default_cache_dir(env),
            cache_limit_gb=_float(env, "AKOOL_CACHE_LIMIT_GB", DEFAULT_CACHE_LIMIT_GB),
            cache_owner_limit_gb=_optional_float(env, "AKOOL_CACHE_OWNER_LIMIT_GB"),
            cache_min_age_hours=_float(env, "AKOOL_CACHE_MIN_AGE_HOURS", DEFAULT_CACHE_MIN_AGE_HOURS, minimum=0.0),
            public_url=public_url.rstrip("/") or None,
            poll_interval=_float(env, "AKOOL_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
            job_deadline=_float(env, "AKOOL_JOB_DEADLINE", DEFAULT_JOB_DEADLINE),
            demo_speed=_float(env, "AKOOL_DEMO_SPEED", 1.0),
            base_url_from_env=bool(base_url),
        )
