"""`vrmonitor compat install`: the CloudStack entry points and built-in checks, bound to a root.

Each entry point is a small script that runs the interpreter that installed it and calls one
function of this package with the root fixed, so `getRouterAlerts.sh` run over SSH on a VM (or
by a test on a temporary root) needs no environment. The built-in checks are copied from
health_scripts/ with the same binding. Existing files are replaced atomically.
"""

import site
import sys
from pathlib import Path

from vrmonitor.paths import CLOUD_BIN, VM_HOME, Paths
from vrmonitor.system.files import atomic_write

# contract path -> module under vrmonitor.compat with main(argv, root) -> exit code.
ENTRY_POINTS = {
    f"{CLOUD_BIN}/getRouterAlerts.sh": "get_router_alerts",
    f"{CLOUD_BIN}/getRouterMonitorResults.sh": "monitor_results",
    f"{VM_HOME}/monitorServices.py": "monitor_services",
    f"{CLOUD_BIN}/diagnostics.py": "diagnostics",
    f"{CLOUD_BIN}/get_diagnostics_files.py": "diagnostics_files",
    f"{CLOUD_BIN}/cleanup.sh": "cleanup",
}

TEMPLATE = '''#!{python}
# {vm_path}: installed by `vrmonitor compat install`; bound to root {root}.
import sys
{path_line}from vrmonitor.compat.entry import call

sys.exit(call({module!r}, {name!r}, sys.argv[1:], root={root!r}))
'''

# The built-in checks (health_scripts/): where each goes on the VM.
CHECKS_FOLDER = f"{VM_HOME}/health_checks"
CHECK_SUFFIX = "_check.py"
OUTSIDE_CHECKS = {"filesystem_writable_check.py": CLOUD_BIN}  # run by the MS, not a check
# What a health script says to find its root; compat install binds the root in its place.
ROOT_LOOKUP = 'os.environ.get("VRMONITOR_ROOT", "/")'


def install(paths: Paths, python: str = sys.executable) -> list[Path]:
    """Write every entry point and built-in check under paths.root; return the files written."""
    written = []
    for vm_path, module in ENTRY_POINTS.items():
        target = paths.under(vm_path)
        atomic_write(target, script(vm_path, module, paths, python), mode=0o755)
        written.append(target)
    for source in sorted(health_scripts_folder().glob(f"*{CHECK_SUFFIX}")):
        folder = OUTSIDE_CHECKS.get(source.name, CHECKS_FOLDER)
        target = paths.under(f"{folder}/{source.name}")
        atomic_write(target, bound_check(source.read_text(), paths, python), mode=0o755)
        written.append(target)
    return written


def script(vm_path: str, module: str, paths: Paths, python: str) -> str:
    return TEMPLATE.format(python=python, vm_path=vm_path, root=str(paths.root),
                           path_line=_path_line(), module=module, name=Path(vm_path).name)


def bound_check(text: str, paths: Paths, python: str) -> str:
    """A health script with this interpreter in its #! line and the root fixed."""
    if ROOT_LOOKUP not in text:
        raise ValueError(f"a health script must find its root with {ROOT_LOOKUP}")
    body = text.split("\n", 1)[1] if text.startswith("#!") else text
    body = body.replace(ROOT_LOOKUP, repr(str(paths.root)))
    body = body.replace("\nfrom vrmonitor", "\n" + _path_line() + "from vrmonitor", 1)
    return f"#!{python}\n{body}"


def health_scripts_folder() -> Path:
    """health_scripts/ inside the installed package, or beside it in a source tree."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "health_scripts"
    return installed if installed.is_dir() else package.parent / "health_scripts"


def _path_line() -> str:
    package_parent = str(Path(__file__).resolve().parents[2])
    # From a source tree (tests, development) the script must find this very package;
    # an installed package is found by the interpreter itself.
    if package_parent in site.getsitepackages():
        return ""
    return f"sys.path.insert(0, {package_parent!r})\n"
