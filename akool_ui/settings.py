"""All configuration, read once from environment variables into a frozen Settings."""

from __future__ import annotations

import ipaddress
import math
import os
import re
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
# Where a hosting platform's proxies connect from. A Space is reached only through Hugging Face's proxies, on
# its private network, so there the X-Forwarded-For entries those hops add are trusted (AKOOL_TRUSTED_PROXIES).
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "127.0.0.0/8", "::1/128")
# A ``--share`` tunnel's client runs on this machine and its HTTP proxy appends the visitor's address.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")
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


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """Comma-separated addresses or networks (``10.0.0.0/8, 127.0.0.1``), ``none`` for none, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if raw.lower() == "none":
        return ()
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{name} must be addresses or networks such as 10.0.0.0/8, separated by commas"
                             f"{_echo(item)}") from None
    return tuple(networks)


def _default_proxies(env: Mapping[str, str]) -> tuple[str, ...] | None:
    """AKOOL_TRUSTED_PROXIES as set; unset on a Space, the platform's private networks."""
    networks = _networks(env, "AKOOL_TRUSTED_PROXIES")
    if networks is None and on_spaces(env):
        return PRIVATE_NETWORKS
    return networks


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1 or 0{_echo(raw)}")



@dataclass(frozen=True)
class SharedStores:
    """Where replicas keep what they share (``adapters/shared``): records, documents, leases and events in
    Redis, images and uploads in an S3-compatible bucket. Credentials stay out of ``repr``; None ones are
    left to boto3's usual places (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""

    redis_url: str = field(repr=False)
    s3_bucket: str
    s3_url: str | None = None
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_key_id: str | None = field(default=None, repr=False)
    s3_secret: str | None = field(default=None, repr=False)
    key_prefix: str = "akool-studio"
    """Every Redis key starts with this (several apps may share one Redis)."""


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _shared_stores(env: Mapping[str, str]) -> SharedStores | None:
    """AKOOL_REDIS_URL with AKOOL_S3_BUCKET (and AKOOL_S3_URL for a server other than AWS), or None for the
    local adapter. One without the other is refused: replicas would share their history but not its images."""
    redis_url = env.get("AKOOL_REDIS_URL", "").strip()
    bucket = env.get("AKOOL_S3_BUCKET", "").strip()
    s3_url = env.get("AKOOL_S3_URL", "").strip()
    if not (redis_url or bucket or s3_url):
        return None
    if not redis_url:
        raise ValueError("AKOOL_S3_BUCKET and AKOOL_S3_URL need AKOOL_REDIS_URL too (the shared history lives there)")
    if urlsplit(redis_url).scheme not in _REDIS_SCHEMES:  # never echoed: it may hold a password
        raise ValueError("AKOOL_REDIS_URL must start with redis://, rediss:// or unix://")
    if not bucket:
        raise ValueError("AKOOL_REDIS_URL needs AKOOL_S3_BUCKET too (the shared images live there)")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"AKOOL_S3_BUCKET must be a bucket name (3-63 lower-case letters, digits, '.', '-'){_echo(bucket)}")
    key_id = env.get("AKOOL_S3_KEY_ID", "").strip() or None
    secret = env.get("AKOOL_S3_SECRET", "").strip() or None
    if bool(key_id) != bool(secret):
        raise ValueError("AKOOL_S3_KEY_ID and AKOOL_S3_SECRET are set together (or neither, for AWS's usual ones)")
    prefix = env.get("AKOOL_STORE_PREFIX", "").strip() or "akool-studio"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", prefix):
        raise ValueError(f"AKOOL_STORE_PREFIX must be letters, digits, '.', '_' or '-'{_echo(prefix)}")
    return SharedStores(
        redis_url=redis_url, s3_bucket=bucket, s3_url=_http_url("AKOOL_S3_URL", s3_url) if s3_url else None,
        s3_prefix=prefix, s3_region=(env.get("AKOOL_S3_REGION") or env.get("AWS_REGION")
                                     or env.get("AWS_DEFAULT_REGION") or "us-east-1").strip(),
        s3_key_id=key_id, s3_secret=secret, key_prefix=prefix,
    )

@dataclass(frozen=True)
class Limits:
    """What one visitor on the server's credentials may spend (None = no limit). See ``Settings.limits``."""

    images_per_hour: int | None = None
    jobs_in_flight: int | None = None
    network_images_per_hour: int | None = None
    """For all visitors of one network together (an IPv4 /24, an IPv6 /48): a script that rotates addresses
    within its own block gets this, not one allowance per address."""
    network_jobs_in_flight: int | None = None
    images_per_minute: int | None = None
    """For the whole app on the server's credentials: no caller (or crowd) spends the day in a minute."""
    daily_credits: int | None = None
    """For the whole app (every visitor on the server's credentials together), per UTC day."""
    upload_mb_per_visitor: int | None = None
    uploads_gb_total: float | None = None


# Defaults on a shared app (a public URL, a Space, ``--share`` or AKOOL_SHARED=1); a local app on its
# owner's machine has none. 24 images an hour is a generous try-out (six batches of four); four jobs in
# flight is one full batch; a network (a household, an office, a cloud block) gets four visitors' worth;
# 20 images a minute for the whole app is a busy room trying it out, yet the day's 500 credits (which
# bound what strangers can spend at a few dollars) last at least 25 minutes of the worst.
SHARED_LIMITS = Limits(images_per_hour=24, jobs_in_flight=4, network_images_per_hour=96, network_jobs_in_flight=16,
                       images_per_minute=20, daily_credits=500, upload_mb_per_visitor=200, uploads_gb_total=2.0)


_LIMIT_ENV = {
    "images_per_hour": "AKOOL_LIMIT_IMAGES_PER_HOUR",
    "jobs_in_flight": "AKOOL_LIMIT_JOBS_IN_FLIGHT",
    "network_images_per_hour": "AKOOL_LIMIT_NETWORK_IMAGES_PER_HOUR",
    "network_jobs_in_flight": "AKOOL_LIMIT_NETWORK_JOBS_IN_FLIGHT",
    "images_per_minute": "AKOOL_LIMIT_IMAGES_PER_MINUTE",
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
    trusted_proxies: tuple[str, ...] | None = None
    """Networks of the proxies in front of the app, whose X-Forwarded-For entries are believed (None: unset,
    so none; on Spaces the platform's private networks). Never a client's own header on a direct connection."""
    stores: SharedStores | None = None
    """Redis + a bucket shared by several replicas (None: the local adapter on ``cache_dir``)."""
    ephemeral_cache: bool = False
    """A Space with no persistent storage at ``PERSISTENT_ROOT`` and no AKOOL_CACHE_DIR: history and images
    die with the container. The start-up log and the page's mode banner say so."""
    mcp: bool = True
    """Serve the studio's agent tools over MCP at ``/gradio_api/mcp/`` (AKOOL_MCP, on unless ``0``)."""

    @property
    def limits(self) -> Limits:
        """The spending limits for visitors on the server's credentials (none for their own keys)."""
        base = SHARED_LIMITS if self.shared else Limits()
        values = {name: getattr(base, name) for name in Limits.__dataclass_fields__}
        for name, value in self.limit_overrides.items():
            values[name] = value or None  # 0 turns a limit off
        return Limits(**values)

    @property
    def proxy_networks(self) -> tuple[str, ...]:
        """The trusted proxies' networks, () when none are."""
        return self.trusted_proxies or ()

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
            trusted_proxies=_default_proxies(env),
            stores=_shared_stores(env),
            ephemeral_cache=not cache_dir_set and on_spaces(env) and not _is_within(cache_dir, PERSISTENT_ROOT),
            mcp=_flag(env, "AKOOL_MCP") if env.get("AKOOL_MCP", "").strip() else True,
        )
