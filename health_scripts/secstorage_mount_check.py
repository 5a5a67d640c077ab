#!/usr/bin/python3
"""secstorage_mount_check.py (basic): secondary storage mounts written within a deadline (contract 10.7)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.secstorage_mount", "secstorage_mount_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
