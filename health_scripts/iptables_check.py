#!/usr/bin/python3
"""iptables_check.py (advanced): every port-forwarding rule in the nat table (contract 3.5)."""
import os
import sys

if sys.argv[1:2] != ["advanced"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.iptables", "iptables_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
