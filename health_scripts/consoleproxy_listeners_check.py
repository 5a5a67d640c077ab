#!/usr/bin/python3
"""consoleproxy_listeners_check.py (basic): the console proxy's ports and firewall (contract 10.7)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.consoleproxy_listeners", "consoleproxy_listeners_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
