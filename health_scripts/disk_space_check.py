#!/usr/bin/python3
"""disk_space_check.py (basic): free space of / against minDiskNeeded (contract 3.5)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.disk_space", "disk_space_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
