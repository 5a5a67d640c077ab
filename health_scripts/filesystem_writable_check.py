#!/usr/bin/python3
"""filesystem_writable_check.py (no argument, /opt/cloud/bin): /root and /var/cache/cloud
not mounted read-only (contract 3.7)."""
import os
import sys

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.filesystem_writable", "filesystem_writable_check.py",
              sys.argv[1:], os.environ.get("VRMONITOR_ROOT", "/")))
