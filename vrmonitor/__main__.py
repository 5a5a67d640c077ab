"""`python3 -m vrmonitor` is the same program as the `vrmonitor` command."""

import sys

from vrmonitor.cli import main

sys.exit(main())
