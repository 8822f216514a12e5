"""Akool Image Studio: ``python app.py [--port N] [--host H] [--share]`` (Hugging Face Spaces' app_file).

Settings come from the environment (see akool_ui/settings.py); with no Akool credentials it runs the
offline demo against an in-process simulator. Host and port default to GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT (Spaces sets both), else 127.0.0.1 and the first free port from 7860.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve Akool Image Studio.")
    parser.add_argument("--host", default=None, help="interface to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from akool_ui.settings import Settings
    from akool_ui.ui.server import install_sigterm_handler, launch

    install_sigterm_handler()
    running = launch(Settings.from_env(), host=args.host, port=args.port, share=args.share, quiet=True)
    print(f"Akool Image Studio ({running.studio.mode} mode) running on {running.local_url}", flush=True)
    if running.share_url:
        print(f"Public link: {running.share_url}", flush=True)
    running.block()
    return 0


if __name__ == "__main__":
    sys.exit(main())
