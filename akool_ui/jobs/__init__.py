"""The job lifecycle's home: records, their states and wording, with no threads, disk or HTTP.

Everything here is plain data and pure functions over it; ``service/`` runs it (polls, downloads, stores),
``ui/`` shows it. Imports run ``ui → service → jobs → akool``.
"""

from .record import (
    IMAGE_EXTENSIONS,
    MAX_DOWNLOAD_ATTEMPTS,
    MAX_IMAGES_PER_JOB,
    SCHEMA_VERSION,
    ImageEntry,
    ImageState,
    JobRecord,
    Page,
    RecordError,
    RecordState,
    paginate,
    request_to_dict,
)

__all__ = [
    "SCHEMA_VERSION",
    "MAX_DOWNLOAD_ATTEMPTS",
    "MAX_IMAGES_PER_JOB",
    "IMAGE_EXTENSIONS",
    "RecordError",
    "RecordState",
    "ImageState",
    "ImageEntry",
    "JobRecord",
    "Page",
    "paginate",
    "request_to_dict",
]
