"""A visitor's own things beside their jobs: starred jobs, share links, deleted jobs still
restorable, source uploads.

Public surface: ``Favourites``, ``Shares`` (with ``Share``, ``SharedResult`` and their refusals),
``DeleteGrace``, ``UploadStore`` (with ``Upload``, ``NoPublicUrl`` and ``UPLOAD_ROUTE``).
"""

from .favourites import Favourites
from .shared_view import SharedImage, SharedResult, ShareGone, ShareNotFound
from .shares import Share, ShareRefused, Shares, is_share_id
from .trash import UNDO_SECONDS, DeleteGrace
from .uploads import UPLOAD_ROUTE, NoPublicUrl, Upload, UploadStore

__all__ = ["Favourites", "Shares", "Share", "ShareRefused", "ShareNotFound", "ShareGone", "SharedResult",
           "SharedImage", "is_share_id", "DeleteGrace", "UNDO_SECONDS", "UploadStore", "Upload", "NoPublicUrl",
           "UPLOAD_ROUTE"]
