#!/usr/bin/python3
"""haproxy_check.py (advanced): every LB rule in /etc/haproxy/haproxy.cfg (contract 3.5)."""
import os
import sys

if sys.argv[1:2] != ["advanced"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.haproxy", "haproxy_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
