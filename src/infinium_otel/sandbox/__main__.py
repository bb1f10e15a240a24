"""``python -m infinium_otel.sandbox``."""

from infinium_otel.cli.sandbox import main

raise SystemExit(main())
