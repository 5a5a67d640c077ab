#!/usr/bin/python3
"""cpu_usage_check.py (basic): CPU usage against systemThresholds.maxCpuUsage (contract 3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.cpu_usage", "cpu_usage_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
