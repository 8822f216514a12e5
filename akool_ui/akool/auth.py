"""Credentials as requests auth objects: each sets its header on the request being sent.

* ``ApiKeyAuth`` - Akool's recommended method: ``x-api-key: <key>``.
* ``TokenAuth`` - the legacy method: ``Authorization: Bearer <token>`` with a token from
  ``POST /api/open/v3/getToken``. The token is fetched lazily, cached (one fetch however many threads
  ask at once), and when Akool answers code 1101 (invalid/expired token) it is fetched again **once** and
  the request repeated - Akool refused the request, so repeating it cannot spend credits twice.

Akool uses ``Authorization`` when both headers are present (akool-api.md §2.1), so a client normally
sends exactly one of them; ``TokenAuth(..., api_key=...)`` sends both on purpose.

No ``repr`` here shows a credential.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

__all__ = ["ApiKeyAuth", "TokenAuth", "API_KEY_HEADER", "TOKEN_EXPIRED_CODE"]

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-api-key"
TOKEN_EXPIRED_CODE = 1101  # "invalid authorization, or token expired"
_HIDDEN = "'***'"


class ApiKeyAuth(AuthBase):
    """Send the API key in ``x-api-key``."""

    def __init__(self, api_key: str):
        if not api_key:
            raise ValueError("api_key is empty")
        self._api_key = api_key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[API_KEY_HEADER] = self._api_key
        return r

    def __repr__(self) -> str:
        return f"ApiKeyAuth(api_key={_HIDDEN})"


class TokenAuth(AuthBase):
    """Send ``Authorization: Bearer <token>``; fetch the token with ``fetch_token`` and renew it on 1101.

    ``fetch_token`` is a callable returning a fresh token (the client's ``get_token``), so this object
    never builds HTTP requests of its own. Safe to share between threads.
    """

    def __init__(self, fetch_token: Callable[[], str], *, api_key: str | None = None, token: str | None = None):
        self._fetch_token = fetch_token
        self._api_key = api_key  # sent as well only when asked for (precedence test, odd proxies)
        self._token = token
        self._lock = threading.Lock()

    def token(self) -> str:
        """The cached token, fetching one first if there is none."""
        with self._lock:
            if self._token is None:
                self._token = self._fetch_token()
            return self._token

    def renew(self, stale: str | None) -> str:
        """Replace ``stale`` with a fresh token; if another thread already did, reuse its token."""
        with self._lock:
            if self._token is None or self._token == stale:
                log.info("Akool token refused (code %d); fetching a new one", TOKEN_EXPIRED_CODE)
                self._token = None  # a failed fetch must not leave the refused token cached
                self._token = self._fetch_token()
            return self._token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._api_key:
            r.headers[API_KEY_HEADER] = self._api_key
        r.headers["Authorization"] = f"Bearer {self.token()}"
        r.register_hook("response", self._handle_response)
        return r

    def _handle_response(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        """Response hook (the shape of requests' ``HTTPDigestAuth.handle_401``): renew once on 1101."""
        if getattr(r.request, "_akool_token_renewed", False) or _envelope_code(r) != TOKEN_EXPIRED_CODE:
            return r
        used = (r.request.headers.get("Authorization") or "").removeprefix("Bearer ")
        token = self.renew(used)
        r.close()
        prep = r.request.copy()
        extract_cookies_to_jar(prep._cookies, r.request, r.raw)  # type: ignore[attr-defined]
        prep.prepare_cookies(prep._cookies)  # type: ignore[attr-defined]
        prep.headers["Authorization"] = f"Bearer {token}"
        prep._akool_token_renewed = True  # type: ignore[attr-defined]
        again = r.connection.send(prep, **kwargs)  # type: ignore[attr-defined]
        again.history.append(r)
        again.request = prep
        return again

    def __repr__(self) -> str:
        cached = "cached" if self._token is not None else "none yet"
        both = f", api_key={_HIDDEN}" if self._api_key else ""
        return f"TokenAuth(token=<{cached}>{both})"


def _envelope_code(r: requests.Response) -> int | None:
    """Akool's business ``code`` from a JSON answer, or None when it is not one."""
    try:
        body = json.loads(r.content)
    except (ValueError, TypeError):
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None
