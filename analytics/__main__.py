"""Entry point of ``python -m analytics``; see analytics/cli/main.py."""

import sys

from analytics.cli.main import main

sys.exit(main())
