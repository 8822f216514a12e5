"""``python -m akool_ui``: see akool_ui/cli.py."""

from .cli import main

raise SystemExit(main())
