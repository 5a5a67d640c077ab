#!/usr/bin/python3
"""router_version_check.py (basic): template and scripts versions match routerVersion (3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.router_version", "router_version_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
