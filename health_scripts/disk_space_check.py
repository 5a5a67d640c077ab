#!/usr/bin/python3
"""disk_space_check.py (basic): free space of / against minDiskNeeded (contract 3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.disk_space", "disk_space_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
