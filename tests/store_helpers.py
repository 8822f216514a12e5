"""A job store with its image files, as tests use it: the local adapter's records (``JobStore``) and the
service's ``ResultFiles`` on the adapter's blobs, behind one object (what ``JobStore`` was before the
storage ports)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

from akool_ui.adapters.local import JobStore, LocalStorage
from akool_ui.bootstrap import assemble_tracker
from akool_ui.service.results.storing import (
    DEFAULT_LIMIT_BYTES, DEFAULT_MIN_AGE_SECONDS, ResultFiles, SizeLimits, image_key, preview_key,
)

__all__ = ["StoreWithFiles", "tracker_on"]


class StoreWithFiles:
    """Records and their result files on one folder; attributes not its own come from the results, then
    the records."""

    def __init__(self, cache_dir: str | Path, *, index_dir: str | Path | None = None,
                 limit_bytes: int = DEFAULT_LIMIT_BYTES, owner_limit_bytes: int | None = None,
                 min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS, clock: Callable[[], float] = time.time):
        self.records = JobStore(cache_dir, index_dir=index_dir, clock=clock)
        self.storage = LocalStorage(self.records)
        self.blobs = self.storage.blobs
        self.results = ResultFiles(
            self.records, self.blobs,
            SizeLimits(limit_bytes=limit_bytes, owner_limit_bytes=owner_limit_bytes, min_age_seconds=min_age_seconds),
            clock=clock,
        )

    def __getattr__(self, name: str) -> Any:
        results = self.__dict__.get("results")
        if results is not None and hasattr(results, name):
            return getattr(results, name)
        return getattr(self.__dict__["records"], name)

    def _limit(name: str) -> property:  # noqa: N805 - a property factory, used in the class body
        def get(self: "StoreWithFiles") -> Any:
            return getattr(self.results.limits, name)

        def set_(self: "StoreWithFiles", value: Any) -> None:
            self.results.limits = dataclasses.replace(self.results.limits, **{name: value})

        return property(get, set_)

    limit_bytes = _limit("limit_bytes")
    owner_limit_bytes = _limit("owner_limit_bytes")
    min_age_seconds = _limit("min_age_seconds")

    @property
    def owner_quota_bytes(self) -> int:
        return self.results.limits.owner_quota_bytes

    @property
    def images_dir(self) -> Path:
        return self.records.cache_dir / "images"

    def image_path(self, job_id: str, index: int, ext: str) -> Path:
        return self.blobs.path(image_key(job_id, index, ext))

    def preview_path(self, job_id: str, index: int) -> Path:
        return self.blobs.path(preview_key(job_id, index))

    def delete(self, job_id: str, owner: str) -> bool:
        deleted = self.records.delete(job_id, owner)
        if deleted:
            self.results.remove_job(job_id)
        return deleted

    def close(self) -> None:
        self.records.close()

    def __enter__(self) -> "StoreWithFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tracker_on(store: "StoreWithFiles | JobStore", **kwargs: Any):
    """A tracker on the store's records, sharing its result files when it has them."""
    if isinstance(store, StoreWithFiles):
        return assemble_tracker(store.storage, results=store.results, **kwargs)
    return assemble_tracker(store, **kwargs)
