"""``python -m akool_ui``: see akool_ui/cli/."""

from .cli import main

raise SystemExit(main())
