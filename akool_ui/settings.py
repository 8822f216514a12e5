"""All configuration, read once from environment variables into a frozen Settings."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://openapi.akool.com"
# The official demo polls every 3 s; we start faster and back off (see service/tracker.py).
DEFAULT_POLL_INTERVAL = 1.0
# Polls per second per credential, for all its jobs together (see service/poll_budget.py).
DEFAULT_POLL_BUDGET = 10.0
# "learned": polls placed where jobs of the kind finish (service/pacing.py); "steady": every interval.
POLL_SCHEDULES = ("learned", "steady")
# Real jobs take 30-50 s; ten minutes leaves room for a long queue before we call it "timed out".
DEFAULT_JOB_DEADLINE = 600.0
DEFAULT_CACHE_LIMIT_GB = 5.0
# With a public URL the app is shared by strangers: one visitor may hold at most this fraction of the
# cache, so a burst of theirs cannot crowd out everyone else. A local app has one user: the whole cache.
SHARED_OWNER_FRACTION = 0.25
# A result must outlive a browser session's first look at it before any eviction may touch it.
DEFAULT_CACHE_MIN_AGE_HOURS = 1.0
# At 1000x a simulated 30-50 s job takes 30-50 ms, already faster than a poll; more is only a typo.
MAX_DEMO_SPEED = 1000.0
# A value is echoed in an error at most this long: enough to spot a typo, too short to spill a secret.
_ECHO_CHARS = 40


# Where Hugging Face Spaces mounts storage that outlives the container: the persistent-storage upgrade, or a
# Storage Bucket attached as a volume. Everything else in a Space (the app folder, home, /tmp) is wiped on
# every restart, rebuild and sleep. Read at call time, so tests can point it at a temporary folder.
PERSISTENT_ROOT = Path("/data")
CACHE_FOLDER = "akool-studio"


def on_spaces(env: Mapping[str, str]) -> bool:
    """Whether we run in a Hugging Face Space (it sets SPACE_ID and SPACE_HOST for the app)."""
    return bool(env.get("SPACE_ID", "").strip() or env.get("SPACE_HOST", "").strip())


def usable_dir(path: Path) -> bool:
    """``path`` is an existing folder we may create files in (not a file, not a read-only mount)."""
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _default_cache_dir(env: Mapping[str, str], persistent_root: Path | None = None) -> Path:
    """The cache folder when AKOOL_CACHE_DIR is unset: under ``persistent_root`` (default ``PERSISTENT_ROOT``)
    when that is a writable folder, on Spaces or anywhere else; otherwise the usual per-user cache."""
    root = PERSISTENT_ROOT if persistent_root is None else persistent_root
    if usable_dir(root):
        return root / CACHE_FOLDER
    if on_spaces(env):  # nothing here survives a restart; Settings.ephemeral_cache makes the app say so
        return Path(".cache") / CACHE_FOLDER
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / CACHE_FOLDER


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _echo(raw: str) -> str:
    """``", got '...'"`` for an error message, or nothing when ``raw`` may hold a credential (``@ ? #``)."""
    if any(c in raw for c in "@?#"):
        return ""
    return f", got {raw[:_ECHO_CHARS]!r}"


def _parse_float(name: str, raw: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``raw`` as a finite number greater than 0 (or at least ``minimum`` when given, at most ``maximum``);
    ValueError naming ``name``. nan and inf are refused: every comparison with nan is False, so it would
    slip past a range check and break whatever uses it much later."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number{_echo(raw)}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{_echo(raw)}")
    if minimum is None and value <= 0:
        raise ValueError(f"{name} must be greater than 0")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}")
    return value


def _http_url(name: str, raw: str) -> str:
    """``raw`` without trailing slashes if it is an http(s) URL with a host; ValueError naming ``name``.

    User info, a query or a fragment are refused: they could carry a credential into logs and links, and
    paths are appended to these URLs."""
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise ValueError(f"{name} must be a URL without spaces or control characters")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError(f"{name} is not a valid URL{_echo(raw)}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{name} must start with http:// or https://{_echo(raw)}")
    if "@" in parts.netloc:
        raise ValueError(f"{name} must not contain a user name or password")
    if not parts.hostname:
        raise ValueError(f"{name} must name a host{_echo(raw)}")
    if "?" in raw or "#" in raw:
        raise ValueError(f"{name} must not have a query (?...) or fragment (#...)")
    return raw.rstrip("/")


def _float(
    env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    raw = env.get(name, "").strip()
    return _parse_float(name, raw, minimum, maximum) if raw else default


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    """Like ``_float`` but None when unset: the default depends on other settings."""
    raw = env.get(name, "").strip()
    return _parse_float(name, raw) if raw else None


def _optional_count(env: Mapping[str, str], name: str) -> int | None:
    """A whole number >= 0 (0 turns the limit off), or None when unset (the default depends on sharing)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise ValueError(f"{name} must be a whole number (0 turns it off){_echo(raw)}")
    return int(raw)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first when unset), case-insensitive; ValueError naming the others."""
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}{_echo(raw)}")
    return raw


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1 or 0{_echo(raw)}")


@dataclass(frozen=True)
class Limits:
    """What one visitor on the server's credentials may spend (None = no limit). See ``Settings.limits``."""

    images_per_hour: int | None = None
    jobs_in_flight: int | None = None
    daily_credits: int | None = None
    """For the whole app (every visitor on the server's credentials together), per UTC day."""
    upload_mb_per_visitor: int | None = None
    uploads_gb_total: float | None = None


# Defaults on a shared app (a public URL, a Space, ``--share`` or AKOOL_SHARED=1); a local app on its
# owner's machine has none. 24 images an hour is a generous try-out (six batches of four); four jobs in
# flight is one full batch; 500 credits a day bounds what strangers can spend at a few dollars.
SHARED_LIMITS = Limits(images_per_hour=24, jobs_in_flight=4, daily_credits=500, upload_mb_per_visitor=200,
                       uploads_gb_total=2.0)


_LIMIT_ENV = {
    "images_per_hour": "AKOOL_LIMIT_IMAGES_PER_HOUR",
    "jobs_in_flight": "AKOOL_LIMIT_JOBS_IN_FLIGHT",
    "daily_credits": "AKOOL_DAILY_CREDIT_BUDGET",
    "upload_mb_per_visitor": "AKOOL_UPLOAD_LIMIT_MB",
    "uploads_gb_total": "AKOOL_UPLOADS_LIMIT_GB",
}


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
    poll_schedule: str = "learned"
    poll_budget: float = DEFAULT_POLL_BUDGET
    """Polls per second per credential (0: no budget)."""
    job_deadline: float = DEFAULT_JOB_DEADLINE
    demo_speed: float = 1.0
    base_url_from_env: bool = False
    shared: bool = False
    """Strangers may reach this app: a public URL, a Space, ``serve --share`` or AKOOL_SHARED=1."""
    limit_overrides: dict = field(default_factory=dict, compare=False)
    """Limits set by environment (name -> int, 0 = off); the rest come from ``SHARED_LIMITS`` when shared."""
    ephemeral_cache: bool = False
    """A Space with no persistent storage at ``PERSISTENT_ROOT`` and no AKOOL_CACHE_DIR: history and images
    die with the container. The start-up log and the page's mode banner say so."""

    @property
    def limits(self) -> Limits:
        """The spending limits for visitors on the server's credentials (none for their own keys)."""
        base = SHARED_LIMITS if self.shared else Limits()
        values = {name: getattr(base, name) for name in Limits.__dataclass_fields__}
        for name, value in self.limit_overrides.items():
            values[name] = value or None  # 0 turns a limit off
        return Limits(**values)

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
        public_url = env.get("AKOOL_PUBLIC_URL", "").strip()
        if public_url:
            public_url = _http_url("AKOOL_PUBLIC_URL", public_url)
        elif space_host:  # Hugging Face Spaces names the host; it serves https
            public_url = _http_url("SPACE_HOST", f"https://{space_host}")
        base_url = env.get("AKOOL_BASE_URL", "").strip()
        if base_url:
            base_url = _http_url("AKOOL_BASE_URL", base_url)
        cache_dir_set = env.get("AKOOL_CACHE_DIR", "").strip()
        cache_dir = Path(cache_dir_set).expanduser() if cache_dir_set else _default_cache_dir(env)
        return cls(
            api_key=env.get("AKOOL_API_KEY", "").strip() or None,
            client_id=env.get("AKOOL_CLIENT_ID", "").strip() or None,
            client_secret=env.get("AKOOL_CLIENT_SECRET", "").strip() or None,
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            cache_dir=cache_dir,
            cache_limit_gb=_float(env, "AKOOL_CACHE_LIMIT_GB", DEFAULT_CACHE_LIMIT_GB),
            cache_owner_limit_gb=_optional_float(env, "AKOOL_CACHE_OWNER_LIMIT_GB"),
            cache_min_age_hours=_float(env, "AKOOL_CACHE_MIN_AGE_HOURS", DEFAULT_CACHE_MIN_AGE_HOURS, minimum=0.0),
            public_url=public_url.rstrip("/") or None,
            poll_interval=_float(env, "AKOOL_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
            poll_schedule=_choice(env, "AKOOL_POLL_SCHEDULE", POLL_SCHEDULES),
            poll_budget=_float(env, "AKOOL_POLL_BUDGET", DEFAULT_POLL_BUDGET, minimum=0.0),
            job_deadline=_float(env, "AKOOL_JOB_DEADLINE", DEFAULT_JOB_DEADLINE),
            demo_speed=_float(env, "AKOOL_DEMO_SPEED", 1.0, maximum=MAX_DEMO_SPEED),
            base_url_from_env=bool(base_url),
            shared=bool(public_url) or _flag(env, "AKOOL_SHARED"),
            limit_overrides={
                key: value
                for key, name in _LIMIT_ENV.items()
                if (value := _optional_count(env, name)) is not None
            },
            ephemeral_cache=not cache_dir_set and on_spaces(env) and not _is_within(cache_dir, PERSISTENT_ROOT),
        )
