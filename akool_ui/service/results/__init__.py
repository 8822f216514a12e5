"""Results: fetching what Akool made, checking and previewing images (Pillow), keeping them as blobs
(``storing.ResultFiles``, with fair eviction), and the settings written into a downloaded file.

Public surface: the image checks the page uses before anything decodes an
upload (``check_upload_header``, ``image_info``, ``make_preview``, ``MAX_UPLOAD_BYTES``,
``MAX_UPLOAD_PIXELS``, ``ImageValidationError``), ``fetch_result`` for the CLI, and the settings
written into downloaded files (``tag_image``, ``settings_of``, ``read_settings``). ``downloader.Downloader`` is the
runtime's own (imported from its module: it needs the job records, which need these image checks).
"""

from .downloads import DownloadFailed, ResultExpired, fetch_result
from .image_meta import read_settings, settings_of, tag_image
from .images import (
    MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, ImageValidationError, check_upload_header, image_info, make_preview,
    prepare_original, split_grid,
)

__all__ = [
    "DownloadFailed", "ResultExpired", "fetch_result", "tag_image", "read_settings",
    "settings_of", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "ImageValidationError", "check_upload_header",
    "image_info", "make_preview", "prepare_original", "split_grid",
]
