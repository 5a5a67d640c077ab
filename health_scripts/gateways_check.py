#!/usr/bin/python3
"""gateways_check.py (basic): every gateway in gateways.gatewaysIps answers ping (contract 3.5)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.gateways", "gateways_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
