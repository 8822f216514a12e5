"""RemoteSimulator: drive a simulator running in another process through its ``/_sim`` routes.

Same method names as the in-process Simulator, so a test can take either:

    sim = RemoteSimulator("http://127.0.0.1:8765")
    sim.http_status(502, times=2, kinds=["info"]); sim.advance(10); sim.stats()["info"]

The fault switches are not written out here: one method per name in ``faults.FAULTS`` is made below,
with the signature and docstring of ``faults.FaultSwitches``, and posts to ``/_sim/faults/<name>``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import requests

from .faults import FAULTS, FaultSwitches

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

    def _fault(self, name: str, **kwargs: Any) -> Any:
        """Arm fault switch ``name`` with ``kwargs``; returns what the switch returned."""
        if isinstance(kwargs.get("kinds"), (tuple, set, frozenset)):
            kwargs["kinds"] = list(kwargs["kinds"])
        return self._call("POST", f"faults/{name}", {k: v for k, v in kwargs.items()})["result"]

    def now(self) -> float:
        return float(self._call("GET", "state")["now"])

    def advance(self, seconds: float) -> float:
        return float(self._call("POST", "advance", {"seconds": seconds})["now"])

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
                    client_secret: str | None = None, credit: int | None = None) -> int:
        return int(self._call("POST", "accounts", {"api_key": api_key, "client_id": client_id,
                                                   "client_secret": client_secret, "credit": credit})["uid"])

    def set_credit(self, api_key: str, credit: int) -> int:
        return int(self._call("POST", "credit", {"api_key": api_key, "credit": credit})["credit"])

    def job(self, job_id: str) -> dict[str, Any] | None:
        response = self._session.get(f"{self.base_url}/_sim/jobs/{job_id}", timeout=TIMEOUT_SECONDS)
        return response.json() if response.status_code == 200 else None

    def close(self) -> None:
        self._session.close()


def _remote_switch(name: str) -> Callable[..., Any]:
    """RemoteSimulator.<name>: every argument (defaults included) sent to ``/_sim/faults/<name>``."""
    local = getattr(FaultSwitches, name)
    signature = inspect.signature(local)

    def switch(self: RemoteSimulator, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        return self._fault(name, **arguments)

    switch.__name__ = name
    switch.__qualname__ = f"RemoteSimulator.{name}"
    switch.__doc__ = local.__doc__
    switch.__signature__ = signature  # type: ignore[attr-defined]
    return switch


for _name in FAULTS:
    setattr(RemoteSimulator, _name, _remote_switch(_name))
