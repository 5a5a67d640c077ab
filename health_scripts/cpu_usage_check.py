#!/usr/bin/python3
"""cpu_usage_check.py (basic): CPU usage against systemThresholds.maxCpuUsage (contract 3.5)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.cpu_usage", "cpu_usage_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
