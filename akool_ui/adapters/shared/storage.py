"""SharedStorage: every port on Redis and an S3-compatible bucket, for several replicas of the app.

    records    RedisRecords (JSON records + sorted-set indexes, MULTI writes)   records.py
    blobs      S3Blobs (objects in the bucket, a mirror on this machine)        blobs.py
    documents  RedisDocuments (compare-and-set by a Lua script)                 documents.py
    leases     RedisLeases (SET NX PX, a heartbeat while this replica lives)    leases.py
    events     RedisEvents (pub/sub between replicas, local subscriptions)      events.py
    slots      RedisSlots (a credential's poll turns, one Lua script per turn)  slots.py

Every replica that names the same Redis, key prefix and bucket shares records, counts, stars, keys,
leases, events and poll turns. What stays on this machine: the mirror of the objects it used
(``mirror_dir``, under the data folder, private) and Gradio's own queue and sessions (hence sticky
sessions, see the README).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...fileio import remove_stale_temp_files
from ..local.store.records import ensure_private_dir
from .blobs import S3Blobs, s3_client
from .connection import Keys, describe_url, open_redis, unavailable
from .documents import RedisDocuments
from .events import RedisEvents
from .leases import RedisLeases
from .records import RedisRecords
from .slots import RedisSlots

if TYPE_CHECKING:  # pragma: no cover
    from ...settings import Settings, SharedStores

__all__ = ["SharedStorage", "MIRROR_FOLDER"]

log = logging.getLogger(__name__)

# Under the data folder: this replica's copies of the bucket's objects it has shown or stored.
MIRROR_FOLDER = "bucket-mirror"


class SharedStorage:
    """The ports on ``redis_client`` (keys under ``keys``) and ``blobs``."""

    def __init__(self, redis_client: Any, keys: Keys, blobs: S3Blobs, **lease_options: float):
        self._redis = redis_client
        self.keys = keys
        self.records = RedisRecords(redis_client, keys)
        self.blobs = blobs
        self.documents = RedisDocuments(redis_client, keys)
        self.leases = RedisLeases(redis_client, keys, **lease_options)
        self.events = RedisEvents(redis_client, keys("events"))
        self.slots = RedisSlots(redis_client, keys)

    @classmethod
    def open(cls, stores: "SharedStores", mirror_dir: str | Path, **lease_options: float) -> "SharedStorage":
        """Connect to the stores (checking both answer) with this replica's mirror in ``mirror_dir``."""
        client = open_redis(stores.redis_url)
        with unavailable(f"could not reach Redis at {describe_url(stores.redis_url)}"):
            client.ping()
        mirror = Path(mirror_dir).expanduser().absolute()
        ensure_private_dir(mirror)
        s3 = s3_client(stores.s3_url, key_id=stores.s3_key_id, secret=stores.s3_secret, region=stores.s3_region)
        blobs = S3Blobs(s3, stores.s3_bucket, mirror_dir=mirror, prefix=stores.s3_prefix)
        blobs.ensure_bucket()
        log.info("shared history in Redis at %s (keys %s*), images in bucket %s%s", describe_url(stores.redis_url),
                 Keys(stores.key_prefix).prefix, stores.s3_bucket,
                 f" at {describe_url(stores.s3_url)}" if stores.s3_url else "")
        return cls(client, Keys(stores.key_prefix), blobs, **lease_options)

    @classmethod
    def from_settings(cls, settings: "Settings", **lease_options: float) -> "SharedStorage":
        if settings.stores is None:
            raise ValueError("no shared stores configured (AKOOL_REDIS_URL, AKOOL_S3_BUCKET)")
        return cls.open(settings.stores, Path(settings.cache_dir) / MIRROR_FOLDER, **lease_options)

    def __repr__(self) -> str:
        return f"SharedStorage(prefix={self.keys.prefix!r}, bucket={self.blobs.bucket!r})"

    @property
    def mirror_dir(self) -> Path:
        return self.blobs.mirror.root

    def private_folders(self) -> list[Path]:
        return [self.mirror_dir]

    def tidy(self) -> int:
        return remove_stale_temp_files(self.mirror_dir)

    def clear_mirror(self) -> None:
        """Forget this replica's copies (they are fetched again from the bucket when next shown)."""
        shutil.rmtree(self.mirror_dir, ignore_errors=True)
        ensure_private_dir(self.mirror_dir)

    def close(self) -> None:
        self.leases.close()
        self.events.close()
        try:
            self._redis.close()
        except Exception:  # already disconnected
            pass

    def __enter__(self) -> "SharedStorage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
