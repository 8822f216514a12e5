"""Owner ids compared one way everywhere: in constant time, and never equal to anything that is not a str.

Reads (``get_for_owner``, history pages, lineage) and deletes all ask "is this job theirs?"; someone else's
job must read as missing, so the answer comes from this one function.
"""

from __future__ import annotations

import hmac

__all__ = ["same_owner"]


def same_owner(a: str, b: str) -> bool:
    """Owner ids compared in constant time (they are keyed hashes; a timing leak would help guess one)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
