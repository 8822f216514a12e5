"""The long-running commands: ``serve`` (the web UI) and ``simulator`` (the local Akool stand-in).

Both block until Ctrl-C or SIGTERM. Their heavy imports (gradio, the simulator) stay inside the
functions, so building the parser for ``--help`` or another command does not pay for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from ..settings import LOOPBACK_NETWORKS

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import Settings


# --- simulator -------------------------------------------------------------------------------------


def _configure_simulator(parser: argparse.ArgumentParser) -> None:
    from ..simulator.jobs import RESULT_SHAPES
    from ..simulator.state import DEFAULT_URL_TTL
    from ..simulator.timing import DEFAULT_TIMING_SEED, TIMINGS

    env = os.environ.get
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--api-key", default=env("AKOOL_SIMULATOR_API_KEY"),
                        help="API key of the simulated account (or env AKOOL_SIMULATOR_API_KEY; "
                             "default: a fixed demo key)")
    parser.add_argument("--client-id", default=env("AKOOL_SIMULATOR_CLIENT_ID"),
                        help="client id, for getToken and webhook encryption (or env AKOOL_SIMULATOR_CLIENT_ID)")
    parser.add_argument("--client-secret", default=env("AKOOL_SIMULATOR_CLIENT_SECRET"),
                        help="client secret (default: the API key; or env AKOOL_SIMULATOR_CLIENT_SECRET)")
    parser.add_argument("--speed", type=float, default=1.0, help="time factor: 2 makes jobs twice as fast")
    parser.add_argument("--timing", choices=TIMINGS, default="quick",
                        help="job durations: quick (5.5 s demo jobs) or realistic (Akool-like 30-50 s, seeded)")
    parser.add_argument("--timing-seed", type=int, default=DEFAULT_TIMING_SEED,
                        help="seed of the realistic timing model (same seed, same job durations)")
    parser.add_argument("--poll-limit", type=float, default=0.0,
                        help="status requests per second one account may make (at speed 1) before Akool's "
                             "1005 'too frequent'; 0 = no limit")
    parser.add_argument("--state-dir", default=None, help="keep jobs and files here across restarts")
    parser.add_argument("--result-shape", choices=RESULT_SHAPES, default="candidates",
                        help="how finished jobs present their images (see simulator README)")
    parser.add_argument("--url-ttl", type=float, default=DEFAULT_URL_TTL,
                        help="seconds (simulated) before result URLs answer 403 (default 7 days)")
    parser.add_argument("--no-v4-buttons", action="store_true", help="v4 jobs offer no U/V buttons")
    parser.add_argument("--no-control", action="store_true", help="leave out the /_sim control routes")
    parser.add_argument("--public-url", default=None, help="base URL to put in result URLs (behind a proxy)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _run_simulator(args: argparse.Namespace) -> int:
    from ..simulator import SimulatorServer

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.speed <= 0 or args.url_ttl <= 0:
        print("error: --speed and --url-ttl must be positive", file=sys.stderr)
        return 2
    if not args.poll_limit >= 0:
        print("error: --poll-limit must be 0 or more", file=sys.stderr)
        return 2
    server = SimulatorServer(
        api_key=args.api_key, client_id=args.client_id, client_secret=args.client_secret, speed=args.speed,
        state_dir=args.state_dir, host=args.host, port=args.port, result_shape=args.result_shape,
        url_ttl=args.url_ttl, v4_buttons=not args.no_v4_buttons, control=not args.no_control,
        public_url=args.public_url, timing=args.timing, timing_seed=args.timing_seed, poll_limit=args.poll_limit,
    )
    try:
        server.start()
    except OSError as exc:
        server.sim.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill` stops it as cleanly as Ctrl-C
    try:
        print(f"Akool simulator listening on {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


# --- serve -----------------------------------------------------------------------------------------


def share_settings(settings: "Settings") -> "Settings":
    """Settings for a ``--share`` link: shared (strangers will come), and the tunnel's client on this machine
    trusted as a proxy (its HTTP proxy appends each visitor's address) unless AKOOL_TRUSTED_PROXIES says."""
    proxies = settings.trusted_proxies if settings.trusted_proxies is not None else LOOPBACK_NETWORKS
    return dataclasses.replace(settings, shared=True, trusted_proxies=proxies)


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None,
                        help="interface to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: $GRADIO_SERVER_PORT, else the first free one from 7860)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _run_serve(args: argparse.Namespace) -> int:
    """The web UI; settings from the environment (offline demo when no Akool credentials are set)."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests, one line each
    from ..settings import Settings
    from ..bootstrap import launch_app
    from ..ui.server import install_sigterm_handler

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_sigterm_handler()
    if args.share:  # a gradio.live link: strangers will come, so the shared-app limits apply
        settings = share_settings(settings)
    try:
        running = launch_app(settings, host=args.host, port=args.port, share=args.share, quiet=True)
    except OSError as exc:
        print(f"error: cannot start the server: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a setting that only shows its problem at start (e.g. overlapping folders)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Akool Image Studio ({running.studio.mode} mode) running on {running.local_url}", flush=True)
    if running.share_url:
        print(f"Public link: {running.share_url}", flush=True)
    if running.mcp_url:
        print(f"MCP server (agents, streamable HTTP): {running.mcp_url}", flush=True)
    running.block()
    return 0
