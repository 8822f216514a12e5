"""The application core, behind one door: ``Studio``. The UI and the CLI import from here only.

    ui / cli ─► service (this surface) ─► jobs ─► akool
                   │ Studio: jobs (submit, press, history, subscribe ...), visitors, uploads, webhooks
                   ├ runtime/   tracker, scheduler, pacing, intents, callbacks, subscriptions
                   ├ results/   downloads, image checks and previews, result files
                   ├ quotas/    spending limits, ledger, visitors, credit (balances, learned costs)
                   ├ identity/  owners, credentials, Akool clients, the demo account
                   ├ library/   favourites, boards, history search, share links, delete with undo, source uploads
                   ├ ports.py   what storage must offer (records, blobs, documents, leases, events)
                   └ documents.py  a document kept parsed, read again only when its version changed

Everything else in the packages above is internal: import it from its module only inside ``service``
(and ``bootstrap``, which builds the graph).
"""

from .identity import MAX_API_KEY_LENGTH, is_browser_id, new_browser_id
from .library import (
    UPLOAD_ROUTE, NoPublicUrl, SharedImage, SharedResult, ShareGone, ShareNotFound, ShareRefused, Upload, is_share_id,
)
from .library.boards import MAX_BOARDS, MAX_JOBS_PER_BOARD, Board, BoardRefused, is_board_id
from .library.search import AUTO as AUTO_MODEL_FILTER, PERIODS, HistoryFilter, SearchRefused, parse_day
from .quotas import LimitReached, credits_of, estimate_credits
from .quotas.credit_guard import NotEnoughCredit
from .results import (
    MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, ImageValidationError, check_upload_header, image_info, make_preview,
    read_settings, settings_of, tag_image,
)
from .runtime import INTENT_PARAM, WEBHOOK_ROUTE, RepeatUnsettled, Subscription
from .studio import Studio
from .studio.credit import CreditEstimate, default_estimate
from .studio.boards import VIEW_ALL, VIEW_FAVOURITES

__all__ = [
    "Studio", "Subscription", "Upload", "SharedResult", "SharedImage", "ShareRefused", "ShareNotFound", "ShareGone",
    "is_share_id", "LimitReached", "NotEnoughCredit", "CreditEstimate", "default_estimate", "RepeatUnsettled",
    "NoPublicUrl", "ImageValidationError",
    "MAX_API_KEY_LENGTH", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "UPLOAD_ROUTE", "WEBHOOK_ROUTE", "INTENT_PARAM",
    "is_browser_id", "new_browser_id", "estimate_credits", "credits_of", "check_upload_header", "image_info",
    "make_preview", "read_settings", "settings_of", "tag_image",
    "Board", "BoardRefused", "is_board_id", "MAX_BOARDS", "MAX_JOBS_PER_BOARD", "HistoryFilter", "SearchRefused",
    "parse_day", "PERIODS", "AUTO_MODEL_FILTER", "VIEW_ALL", "VIEW_FAVOURITES",
]

# The compare view's resolved images (``Studio.stored_images``).
from .studio.jobs import StoredImage  # noqa: E402

__all__ += ["StoredImage"]
