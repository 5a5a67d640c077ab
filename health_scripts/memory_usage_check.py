#!/usr/bin/python3
"""memory_usage_check.py (basic): memory usage against maxMemoryUsage (contract 3.5)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.memory_usage", "memory_usage_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
