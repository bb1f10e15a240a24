"""``python -m infinium_otel.sandbox``."""

from infinium_otel.sandbox.cli import main

raise SystemExit(main())
