"""Fetching result files from Akool's CDN: whole, bounded in size, retried a few times.

Result URLs need no credentials, so none are ever sent to them (a plain session, not the API
client's). Shared by the tracker and the command line.
"""

from __future__ import annotations

import time

import requests

from .images import MAX_ORIGINAL_BYTES

__all__ = ["ResultExpired", "DownloadFailed", "fetch_result", "download_session", "EXPIRED_STATUSES"]

# A CDN answering these no longer has the file (Akool deletes results after 7 days).
EXPIRED_STATUSES = frozenset({403, 404, 410})
# One call tries a URL this many times, pausing 0.5 s then 1 s: enough for a CDN hiccup.
DOWNLOAD_TRIES = 3
# Connecting is quick; a 4K original can take a while on a slow link.
DOWNLOAD_TIMEOUT = (5.0, 60.0)


class ResultExpired(Exception):
    """The CDN no longer serves the file (HTTP 403/404/410)."""


class DownloadFailed(Exception):
    """The file could not be fetched whole after every try; the message says why (no secrets)."""


def download_session(pool: int = 8) -> requests.Session:
    """A session for result files, with a connection pool of ``pool`` and no credentials."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(pool, 4), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "akool-image-studio (result download)"
    return session


def fetch_result(
    url: str,
    *,
    session: requests.Session | None = None,
    tries: int = DOWNLOAD_TRIES,
    max_bytes: int = MAX_ORIGINAL_BYTES,
    sleep=time.sleep,
) -> bytes:
    """GET a result file whole. Raises ResultExpired (403/404/410) or DownloadFailed."""
    get = session.get if session is not None else requests.get
    problem = "no attempt"
    for attempt in range(tries):
        if attempt:
            sleep(0.5 * 2 ** (attempt - 1))
        try:
            with get(url, timeout=DOWNLOAD_TIMEOUT, stream=True) as response:
                if response.status_code in EXPIRED_STATUSES:
                    raise ResultExpired(f"HTTP {response.status_code}")
                if response.status_code != 200:
                    problem = f"HTTP {response.status_code}"
                    continue
                chunks, size = [], 0
                for chunk in response.iter_content(256 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadFailed("the file is larger than any image Akool makes")
                    chunks.append(chunk)
                data = b"".join(chunks)
                expected = response.headers.get("Content-Length", "")
                if expected.isdigit() and int(expected) != len(data):
                    problem = f"truncated ({len(data)} of {expected} bytes)"
                    continue
                return data
        except requests.RequestException as exc:  # refused, dropped, timed out, short body
            problem = type(exc).__name__
    raise DownloadFailed(f"{problem} after {tries} tries")
