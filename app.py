"""Akool Image Studio: ``python app.py [--port N] [--host H] [--share]`` (Hugging Face Spaces' app_file).

Settings come from the environment (see akool_ui/settings.py); with no Akool credentials it runs the
offline demo against an in-process simulator. Host and port default to GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT (Spaces sets both), else 127.0.0.1 and the first free port from 7860.
Same as ``python -m akool_ui serve``.
"""

import sys

from akool_ui.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
