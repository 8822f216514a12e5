"""SimulatorServer: the simulator on a real socket, served by uvicorn in a daemon thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from .app import create_app
from .options import DEFAULT_URL_TTL
from .state import Simulator

__all__ = ["SimulatorServer", "DEFAULT_API_KEY"]

log = logging.getLogger(__name__)

# Used only when no credential at all is given (e.g. a bare `python -m akool_ui simulator`).
DEFAULT_API_KEY = "akool-simulator-demo-key"
START_TIMEOUT_SECONDS = 10.0


class SimulatorServer:
    """A local Akool on ``host:port`` (port 0 picks a free one). Use as a context manager, or
    ``start()`` / ``stop()``. ``sim`` holds all state and exists before ``start``."""

    def __init__(self, api_key: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, speed: float = 1.0, state_dir: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, result_shape: str = "candidates",
                 url_ttl: float = DEFAULT_URL_TTL, *, v4_buttons: bool = True, control: bool = True,
                 public_url: str | None = None, **options: Any):
        self.host = host
        self.port = int(port)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.sim = Simulator(speed=speed, state_dir=state_dir, result_shape=result_shape, url_ttl=url_ttl,
                             v4_buttons=v4_buttons, **options)
        if api_key or client_secret:
            self.sim.add_account(api_key=api_key, client_id=client_id, client_secret=client_secret)
        else:
            self.sim.add_account(api_key=DEFAULT_API_KEY, client_id=client_id)
        self._control = control
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "SimulatorServer":
        """Bind, serve in a daemon thread, and return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("the simulator server is already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
        # TCP, and without it every keep-alive answer (headers, then body) waits ~40 ms on delayed ACKs.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self.sim.base_url = self.public_url or self.base_url
        config = uvicorn.Config(create_app(self.sim, control=self._control), log_config=None,
                                log_level="warning", access_log=False, lifespan="off", http="h11",
                                loop="asyncio", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"simulator-http-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator server did not start")
            time.sleep(0.01)
        log.info("Akool simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and stop the simulator's background threads."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sim.close()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
