"""The job lifecycle's home: records, states, transitions, events, wording; no threads, disk or HTTP.

``record`` (the data), ``states``, ``lifecycle`` (pure transitions returning ``events``), ``codec``
(JSON and schema), ``wording`` (every sentence the page shows about a job), ``page``. ``service/`` runs
the lifecycle (polls, downloads, stores), ``ui/`` shows it. Imports run ``ui → service → jobs → akool``.
"""

from . import events, lifecycle, wording
from .codec import REQUEST_FIELDS, request_to_dict
from .page import Page, paginate
from .record import (
    IMAGE_EXTENSIONS,
    MAX_DOWNLOAD_ATTEMPTS,
    MAX_IMAGES_PER_JOB,
    SCHEMA_VERSION,
    ImageEntry,
    JobRecord,
    RecordError,
)
from .states import ImageState, RecordState

__all__ = [
    "SCHEMA_VERSION",
    "MAX_DOWNLOAD_ATTEMPTS",
    "MAX_IMAGES_PER_JOB",
    "IMAGE_EXTENSIONS",
    "REQUEST_FIELDS",
    "RecordError",
    "RecordState",
    "ImageState",
    "ImageEntry",
    "JobRecord",
    "Page",
    "paginate",
    "request_to_dict",
    "events",
    "lifecycle",
    "wording",
]
