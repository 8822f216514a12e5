"""``python -m akool_ui <command> ...``: a dispatch table of subcommands.

Add a command by writing ``_configure_<name>(parser)`` and ``_run_<name>(args) -> int`` and one
``Command`` entry in ``COMMANDS``. This package is the only place outside tests that prints.

- ``serve.py``: ``serve`` (the web UI) and ``simulator``
- ``jobs.py``: ``generate``, ``result``, ``press`` (the Akool API from the command line)
- ``api.py``: what those three share (client, failures as exit codes, waiting, downloading)
- ``recover.py``: ``check-again`` (the app's own stuck jobs, from its cache)

The submodules import only the standard library at the top; the rest is imported inside the function
that needs it, so ``--help`` stays fast and ``generate`` never loads gradio.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Sequence

# _Stop, _err and _download are re-exported for existing importers (tests call cli._download).
from .api import EXIT_CODES, _download, _err, _Stop
from .recover import _configure_check_again, _run_check_again
from .jobs import _configure_generate, _configure_press, _configure_result, _run_generate, _run_press, _run_result
from .serve import _configure_serve, _configure_simulator, _run_serve, _run_simulator

__all__ = ["Command", "COMMANDS", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how to add its arguments, and what runs it (returns exit code)."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str | None = None


COMMANDS: dict[str, Command] = {
    "serve": Command("serve the web UI (python app.py does the same)", _configure_serve, _run_serve),
    "simulator": Command("run the local Akool simulator (offline demo backend, test server)",
                         _configure_simulator, _run_simulator),
    "generate": Command("create images (v4 createBySourcePrompt); prints job ids, or with --wait the result URLs",
                        _configure_generate, _run_generate, EXIT_CODES),
    "result": Command("show a job: status, buttons, used buttons, result URLs (infobymodelid)",
                      _configure_result, _run_result, EXIT_CODES),
    "press": Command("press U1-U4 (4K upscale) or V1-V4 (variation) on a finished job (v3 createbybutton)",
                     _configure_press, _run_press, EXIT_CODES),
    "check-again": Command("look again at the app's timed-out jobs and downloads that gave up (its own cache)",
                           _configure_check_again, _run_check_again),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m akool_ui", description="Akool Image Studio",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        extra: dict[str, Any] = {}
        if command.epilog:
            extra = {"epilog": command.epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
        command.configure(subparsers.add_parser(name, help=command.help, description=command.help, **extra))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)
