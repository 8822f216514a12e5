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


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("SPACE_ID") or env.get("SPACE_HOST"):  # Hugging Face Spaces: the app folder persists
        return Path(".cache") / "akool-studio"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "akool-studio"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw[:40]!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0")
    return value


@dataclass(frozen=True)
class Settings:
    """What the app was told by its environment. Secrets are kept out of ``repr``."""

    api_key: str | None = field(default=None, repr=False)
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    cache_dir: Path = Path(".cache") / "akool-studio"
    cache_limit_gb: float = DEFAULT_CACHE_LIMIT_GB
    public_url: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    job_deadline: float = DEFAULT_JOB_DEADLINE
    demo_speed: float = 1.0
    base_url_from_env: bool = False

    @property
    def has_server_credentials(self) -> bool:
        return bool(self.api_key or (self.client_id and self.client_secret))

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
            public_url=public_url.rstrip("/") or None,
            poll_interval=_float(env, "AKOOL_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
            job_deadline=_float(env, "AKOOL_JOB_DEADLINE", DEFAULT_JOB_DEADLINE),
            demo_speed=_float(env, "AKOOL_DEMO_SPEED", 1.0),
            base_url_from_env=bool(base_url),
        )
