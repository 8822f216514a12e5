"""Starting the real app (demo mode, fast simulator) for tests that talk HTTP or gradio_client to it."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from akool_ui.bootstrap import launch_app
from akool_ui.settings import Settings

FAST_DEMO = {"AKOOL_DEMO_SPEED": "25", "AKOOL_POLL_INTERVAL": "0.2"}


@contextmanager
def running_demo_app(cache_dir: Path, **env: str) -> Iterator:
    """``launch_app`` on 127.0.0.1 (a free port) with ``cache_dir`` and a fast demo; closed on exit."""
    settings = Settings.from_env({"AKOOL_CACHE_DIR": str(cache_dir), **FAST_DEMO, **env})
    running = launch_app(settings, host="127.0.0.1", port=None, quiet=True)
    try:
        yield running
    finally:
        running.close()
