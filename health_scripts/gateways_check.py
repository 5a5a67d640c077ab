#!/usr/bin/python3
"""gateways_check.py (basic): every gateway in gateways.gatewaysIps answers ping (contract 3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.gateways", "gateways_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
