"""``python -m vigil`` is ``vigil``."""

from vigil.cli import main

raise SystemExit(main())
