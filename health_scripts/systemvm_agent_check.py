#!/usr/bin/python3
"""systemvm_agent_check.py (basic): the agent connected to a management server (contract 10.7)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.systemvm_agent", "systemvm_agent_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
