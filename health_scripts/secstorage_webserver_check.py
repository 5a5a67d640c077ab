#!/usr/bin/python3
"""secstorage_webserver_check.py (basic): the SSVM's template web server answers (contract 10.7)."""
import os
import sys

if sys.argv[1:2] != ["basic"]:  # another kind's run: nothing to say, nothing to import
    sys.exit(0)

from vrmonitor.compat.entry import call

sys.exit(call("vrmonitor.checks.secstorage_webserver", "secstorage_webserver_check.py", sys.argv[1:],
              os.environ.get("VRMONITOR_ROOT", "/")))
