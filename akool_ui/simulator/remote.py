"""RemoteSimulator: drive a simulator running in another process through its ``/_sim`` routes.

Same method names as the in-process Simulator, so a test can take either:

    sim = RemoteSimulator("http://127.0.0.1:8765")
    sim.http_status(502, times=2, kinds=["info"]); sim.advance(10); sim.stats()["info"]
"""

from __future__ import annotations

from typing import Any

import requests

__all__ = ["RemoteSimulator"]

TIMEOUT_SECONDS = 10.0


class RemoteSimulator:
    """A thin HTTP client for the control routes; raises ValueError when the simulator refuses."""

    def __init__(self, base_url: str, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self._session = session or requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.request(method, f"{self.base_url}/_sim/{path}", json=body,
                                         timeout=TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise ValueError(response.json().get("detail", f"HTTP {response.status_code}"))
        return response.json()

    def _fault(self, name: str, **kwargs: Any) -> None:
        if isinstance(kwargs.get("kinds"), (tuple, set, frozenset)):
            kwargs["kinds"] = list(kwargs["kinds"])
        self._call("POST", f"faults/{name}", {k: v for k, v in kwargs.items()})

    def now(self) -> float:
        return float(self._call("GET", "state")["now"])

    def advance(self, seconds: float) -> float:
        return float(self._call("POST", "advance", {"seconds": seconds})["now"])

    def http_status(self, status: int = 502, times: int | None = 1, kinds: Any = None) -> None:
        self._fault("http_status", status=status, times=times, kinds=kinds)

    def delay(self, seconds: float, times: int | None = 1, kinds: Any = None) -> None:
        self._fault("delay", seconds=seconds, times=times, kinds=kinds)

    def drop_connection(self, times: int | None = 1, kinds: Any = None) -> None:
        self._fault("drop_connection", times=times, kinds=kinds)

    def malformed_json(self, times: int | None = 1, kinds: Any = None) -> None:
        self._fault("malformed_json", times=times, kinds=kinds)

    def truncate_body(self, times: int | None = 1, kinds: Any = ("file",)) -> None:
        self._fault("truncate_body", times=times, kinds=kinds)

    def fail_next(self, times: int | None = 1, code: int | None = None, kinds: Any = None) -> None:
        self._fault("fail_next", times=times, code=code, kinds=kinds)

    def stuck_next(self, times: int | None = 1, kinds: Any = None) -> None:
        self._fault("stuck_next", times=times, kinds=kinds)

    def expire_tokens(self) -> int:
        return int(self._call("POST", "expire_tokens")["expired"])

    def active_faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["faults"])

    def reset_faults(self) -> None:
        self._call("POST", "reset_faults")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def reset_stats(self) -> None:
        self._call("POST", "reset_stats")

    def options(self) -> dict[str, Any]:
        return dict(self._call("GET", "options"))

    def set_options(self, **options: Any) -> dict[str, Any]:
        return dict(self._call("POST", "options", options))

    def add_account(self, api_key: str | None = None, client_id: str | None = None,
                    client_secret: str | None = None) -> int:
        return int(self._call("POST", "accounts", {"api_key": api_key, "client_id": client_id,
                                                   "client_secret": client_secret})["uid"])

    def job(self, job_id: str) -> dict[str, Any] | None:
        response = self._session.get(f"{self.base_url}/_sim/jobs/{job_id}", timeout=TIMEOUT_SECONDS)
        return response.json() if response.status_code == 200 else None

    def close(self) -> None:
        self._session.close()
