#!/usr/bin/python3
"""haproxy_check.py (advanced): every LB rule in /etc/haproxy/haproxy.cfg (contract 3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.haproxy", "haproxy_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
