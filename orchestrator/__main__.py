"""`python -m orchestrator` is the `vod-orchestrator` command."""

import sys

from orchestrator.cli import main

sys.exit(main())
