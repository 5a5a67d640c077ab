#!/usr/bin/python3
"""memory_usage_check.py (basic): memory usage against maxMemoryUsage (contract 3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.memory_usage", "memory_usage_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
