#!/usr/bin/python3
"""systemvm_dns_check.py (advanced): the SSVM's DNS servers answer (contract 10.7)."""
import os
import sys

if sys.argv[1:2] != ["advanced"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.systemvm_dns", "systemvm_dns_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
