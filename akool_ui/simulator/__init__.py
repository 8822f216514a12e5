"""A contract-faithful local Akool "Image Generate" API (akool-api.md) over real HTTP.

    from akool_ui.simulator import SimulatorServer
    with SimulatorServer(api_key="...", speed=20) as server:
        server.base_url      # http://127.0.0.1:<port>
        server.sim.advance(10)  # every job created so far is now finished

Modules: ``state`` (Simulator: the facade routes and tests call), ``app`` (FastAPI routes, fault
middleware, ``/_sim`` control routes), ``jobbook`` (jobs, file names, create/button rules), ``jobs``
(job record and wire document), ``results`` (file answers, rendering, render cache), ``sources``
(image-to-image fetching), ``validation`` (raw-JSON checks -> 1003), ``accounts`` (keys, tokens, auth
precedence), ``faults`` (the registry of fault names, and the switches), ``options``, ``counters``,
``persistence`` (the state dir), ``render`` (Pillow images), ``files`` (rendered-bytes cache),
``webhooks`` + ``scheduler`` (signed callbacks), ``timing`` (quick or realistic job durations),
``ratelimit`` (1005 for status polls over ``poll_limit``), ``clock``, ``codes``, ``server`` (uvicorn thread),
``remote`` (drive a simulator in another process). README.md beside this file lists every behaviour
the simulator had to choose.
"""

from .clock import Clock
from .codes import SimError
from .faults import CREATE_KINDS, REQUEST_KINDS
from .jobs import RESULT_SHAPES
from .remote import RemoteSimulator
from .server import DEFAULT_API_KEY, SimulatorServer
from .state import (
    DEFAULT_URL_TTL,
    PROCESSING_SECONDS,
    QUEUED_SECONDS,
    UPSCALE_PROCESSING_SECONDS,
    Simulator,
)

__all__ = [
    "SimulatorServer",
    "Simulator",
    "RemoteSimulator",
    "Clock",
    "SimError",
    "REQUEST_KINDS",
    "CREATE_KINDS",
    "RESULT_SHAPES",
    "DEFAULT_API_KEY",
    "DEFAULT_URL_TTL",
    "QUEUED_SECONDS",
    "PROCESSING_SECONDS",
    "UPSCALE_PROCESSING_SECONDS",
]
