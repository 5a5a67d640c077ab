#!/usr/bin/python3
"""dns_check.py (advanced): every running VM present in /etc/hosts (contract 3.5)."""
import os
import sys

from vrmonitor.cloudstack.entry import call

sys.exit(call("vrmonitor.checks.dns", "dns_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
