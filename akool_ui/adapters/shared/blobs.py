"""``S3Blobs``: the ``Blobs`` port on S3-compatible object storage (AWS S3, MinIO, moto, a Hugging Face
Storage Bucket's S3 face), through boto3.

Keys are the local adapter's (``images/ab/<id>/0.png``, ``uploads/<token>.png``), checked the same way,
under an optional prefix in the bucket. Objects are written whole and never changed (the port's rule:
a key names one value until deleted), so each replica keeps a mirror of the objects it has read or
written in a private folder of its own disk: Gradio and the media links serve files, and an image
shown twice is fetched from the bucket once. The mirror is only a cache: losing it loses nothing.

``url`` is None: the bucket is never handed to browsers or to Akool; the app streams each object after
its owner check, exactly as it serves local files. Errors become the ports' own (``BlobNotFound``,
``StorageUnavailable``); an S3 error message never carries the credentials.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

from ...service.ports import BlobInfo, BlobNotFound, StorageUnavailable
from ..local.blobs import LocalBlobs

__all__ = ["S3Blobs", "s3_client"]

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
# delete_objects takes at most a thousand keys a call.
_DELETE_BATCH = 1000


def s3_client(endpoint_url: str | None, *, key_id: str | None, secret: str | None, region: str) -> Any:
    """A boto3 S3 client for ``endpoint_url`` (path-style addressing: works with any S3-compatible server)."""
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                    max_pool_connections=32, connect_timeout=5, read_timeout=30)
    return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=key_id, aws_secret_access_key=secret,
                        region_name=region, config=config)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3Blobs:
    """Blobs as objects in ``bucket`` (under ``prefix``), mirrored into ``mirror_dir`` as they are used."""

    def __init__(self, client: Any, bucket: str, *, mirror_dir: str | os.PathLike[str], prefix: str = ""):
        self._s3, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.mirror = LocalBlobs(mirror_dir)

    def __repr__(self) -> str:
        return f"S3Blobs(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _object(self, key: str) -> str:
        self.mirror.path(key)  # the local adapter's key rules: plain names, nothing outside the root
        return self.prefix + key

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"no blob {kwargs.get('Key', '')!r}") from None
            raise StorageUnavailable(f"{what}: the bucket refused ({_code(exc) or 'error'})") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"{what}: the bucket did not answer ({type(exc).__name__})") from None

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (an operator's bucket usually does)."""
        try:
            self._call("the bucket could not be read", self._s3.head_bucket)
        except BlobNotFound:
            self._call("the bucket could not be created", self._s3.create_bucket)
            log.info("created the bucket %s", self.bucket)

    # --- the port ------------------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        self._call(f"blob {key!r} could not be stored", self._s3.put_object, Key=self._object(key), Body=bytes(data))
        try:
            self.mirror.put(key, data)
        except OSError:  # the mirror is a cache; the object is stored
            pass

    def open(self, key: str) -> BinaryIO:
        path = self.local_path(key)
        if path is None:
            raise BlobNotFound(f"no blob {key!r}")
        try:
            return path.open("rb")
        except FileNotFoundError:  # deleted from the mirror meanwhile: read the object itself
            return io.BytesIO(self._fetch(key))

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        if self.mirror.exists(key):
            return self.mirror.size(key)
        try:
            head = self._call(f"blob {key!r} could not be read", self._s3.head_object, Key=self._object(key))
        except BlobNotFound:
            return None
        return int(head.get("ContentLength", 0))

    def delete(self, key: str) -> int:
        size = self.size(key) or 0
        self._call(f"blob {key!r} could not be deleted", self._s3.delete_object, Key=self._object(key))
        self.mirror.delete(key)
        return size

    def delete_prefix(self, prefix: str) -> int:
        infos = self._listing(prefix, recursive=True)
        for start in range(0, len(infos), _DELETE_BATCH):
            batch = [{"Key": self.prefix + info.key} for info in infos[start:start + _DELETE_BATCH]]
            self._call("blobs could not be deleted", self._s3.delete_objects, Delete={"Objects": batch, "Quiet": True})
        self.mirror.delete_prefix(prefix)
        return sum(info.size for info in infos)

    def list(self, prefix: str) -> list[BlobInfo]:
        return self._listing(prefix, recursive=False)

    def url(self, key: str) -> str | None:
        return None  # streamed by the app after its owner check; the bucket is never handed out

    def local_path(self, key: str) -> Path | None:
        """The mirror's file for ``key``, fetched from the bucket first if this replica has not got it."""
        path = self.mirror.path(key)
        if path.is_file():
            return path
        try:
            data = self._fetch(key)
        except BlobNotFound:
            return None
        self.mirror.put(key, data)
        return path

    # --- helpers ------------------------------------------------------------------------------------

    def _fetch(self, key: str) -> bytes:
        answer = self._call(f"blob {key!r} could not be read", self._s3.get_object, Key=self._object(key))
        with answer["Body"] as body:
            return body.read()

    def _listing(self, prefix: str, *, recursive: bool) -> list[BlobInfo]:
        base = prefix.rstrip("/") + "/"
        self.mirror.path(base.rstrip("/"))  # the same key rules for a prefix
        found: list[BlobInfo] = []
        kwargs: dict[str, Any] = {"Prefix": self.prefix + base}
        if not recursive:
            kwargs["Delimiter"] = "/"
        while True:
            try:
                page = self._call("blobs could not be listed", self._s3.list_objects_v2, **kwargs)
            except BlobNotFound:
                return []
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                found.append(BlobInfo(key, int(item["Size"]), item["LastModified"].timestamp()))
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return sorted(found, key=lambda b: (b.modified, b.key))
