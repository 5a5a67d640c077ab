"""`vrmonitor compat install`: the CloudStack entry points, as small scripts bound to a root.

Each script runs the interpreter that installed it and calls one function of this package with
the root fixed, so `getRouterAlerts.sh` run over SSH on a VM (or by a test on a temporary root)
needs no environment. Existing files are replaced atomically.
"""

import site
import sys
from pathlib import Path

from vrmonitor.paths import Paths
from vrmonitor.system.files import atomic_write

# contract path -> module under vrmonitor.cloudstack with main(argv, root) -> exit code.
# Later issues add theirs here.
ENTRY_POINTS = {
    "/opt/cloud/bin/getRouterAlerts.sh": "get_router_alerts",
    "/opt/cloud/bin/getRouterMonitorResults.sh": "monitor_results",
    "/root/monitorServices.py": "monitor_services",
}

TEMPLATE = '''#!{python}
# {vm_path}: installed by `vrmonitor compat install`; bound to root {root}.
import sys
{path_line}from vrmonitor.cloudstack.entry import call

sys.exit(call({module!r}, {name!r}, sys.argv[1:], root={root!r}))
'''


def install(paths: Paths, python: str = sys.executable) -> list[Path]:
    """Write every entry point under paths.root; return the files written."""
    written = []
    for vm_path, module in ENTRY_POINTS.items():
        target = paths.under(vm_path)
        atomic_write(target, script(vm_path, module, paths, python), mode=0o755)
        written.append(target)
    return written


def script(vm_path: str, module: str, paths: Paths, python: str) -> str:
    package_parent = str(Path(__file__).resolve().parents[2])
    # From a source tree (tests, development) the script must find this very package;
    # an installed package is found by the interpreter itself.
    on_default_path = package_parent in site.getsitepackages()
    path_line = "" if on_default_path else f"sys.path.insert(0, {package_parent!r})\n"
    return TEMPLATE.format(python=python, vm_path=vm_path, root=str(paths.root),
                           path_line=path_line, module=module, name=Path(vm_path).name)
