"""The shared adapter: the storage ports on Redis (records, documents, leases, events, poll turns) and
an S3-compatible bucket (blobs), so several replicas of the app on several machines share one history.

Public surface: ``SharedStorage`` (every port, opened and closed together, from ``Settings.stores``), and
its parts: ``RedisRecords``, ``RedisDocuments``, ``RedisLeases``, ``RedisEvents``, ``RedisSlots``,
``S3Blobs``. Chosen by ``bootstrap`` when AKOOL_REDIS_URL is set; needs the ``redis`` and ``boto3`` packages.
"""

from .blobs import S3Blobs
from .documents import RedisDocuments
from .events import RedisEvents
from .leases import RedisLeases
from .records import RedisRecords
from .slots import RedisSlots
from .storage import SharedStorage

__all__ = ["SharedStorage", "RedisRecords", "RedisDocuments", "RedisLeases", "RedisEvents", "RedisSlots", "S3Blobs"]
