"""The file locations the light entry points need, as strings under a root.

paths.Paths is what the rest of vrmonitor uses; it builds on these. The entry points the
management server and cron call every few minutes use them directly, since Paths (pathlib,
dataclasses) costs about as much to import as the interpreter's own start.
"""

import os

from vrmonitor import ROOT_ENV

# Contract folders as on a VM: root's home (every MS command's and check's working folder) and
# the folder of CloudStack's scripts.
VM_HOME = "/root"
CLOUD_BIN = "/opt/cloud/bin"

CONFIG_FILE = "/etc/vrmonitor/vrmonitor.toml"
STATE_DIR = "/var/lib/vrmonitor"
DAEMON_STATE = f"{STATE_DIR}/daemon.json"
HEALTH_HISTORY = f"{STATE_DIR}/health-history.json"
HEALTH_CHECKS_DATA = f"{VM_HOME}/health_checks_data.json"
MONITOR_LOG = "/var/log/monitor.log"
CMDLINE = "/var/cache/cloud/cmdline"


def chosen_root(root: str | None) -> str:
    """The root given on the command line, else $VRMONITOR_ROOT, else `/`; absolute."""
    return os.path.abspath(root or os.environ.get(ROOT_ENV) or "/")


def under(root: str, vm_path: str) -> str:
    """The location of a contract path (as on a real VM) under `root`."""
    return os.path.join(root, vm_path.lstrip("/"))


def results_file(kind: str) -> str:
    return f"{VM_HOME}/{kind}_monitor_results.json"
