#!/usr/bin/python3
"""systemvm_certificate_check.py (advanced): the TLS certificate a system VM serves (contract 10.7)."""
import os
import sys

if sys.argv[1:2] != ["advanced"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.systemvm_certificate", "systemvm_certificate_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
