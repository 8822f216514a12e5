"""What a person downloads from the results panel: one original, or every original in view as a zip.

Both reach the page as media links (``StudioAccess.link``), named after the job, button and image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ...jobs import JobRecord
from ...service.exports import zip_files
from .common import StudioAccess

__all__ = ["Downloads", "download_name"]


def download_name(record: JobRecord, index: int, path: Path | None) -> str | None:
    """The file name a person downloads: which job, which button, which image."""
    if path is None:
        return None
    return f"akool-{record.id}-{record.button or 'image'}-{index + 1}{path.suffix}"


class Downloads:
    """Download links for the results panel."""

    def __init__(self, access: StudioAccess):
        self.access = access

    def original(self, record: JobRecord | None, index: int) -> str | None:
        """A link to the stored original of ``record``'s image ``index`` (None when it is not on disk)."""
        if record is None:
            return None
        path = self.access.original(record, index)
        return self.access.link(record, path, download_name(record, index, path))

    def zip(self, view: dict[str, Any], records: Sequence[JobRecord]) -> str | None:
        """A zip of every stored original in view, built once per set of files (remembered in ``view``)."""
        if not records or any(r.is_in_flight for r in records):
            return None
        files: list[tuple[Path, str]] = []
        for record in records:
            for entry in record.images:
                if entry.is_stored and entry.original:
                    path = self.access.abspath(entry.original)
                    files.append((path, download_name(record, entry.index, path)))
        if not files:
            return None
        signature = [str(p) for p, _ in files]
        cached = view.get("zip")
        if cached and cached.get("files") == signature and Path(cached["path"]).is_file():
            return cached["path"]
        path = zip_files(files, f"akool-{records[0].id}.zip")
        view["zip"] = {"files": signature, "path": str(path)}
        return str(path)
