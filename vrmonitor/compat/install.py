"""`vrmonitor compat install`: the CloudStack entry points and built-in checks, bound to a root.

Each entry point is a small script that runs the interpreter that installed it and calls one
function of this package with the root fixed, so `getRouterAlerts.sh` run over SSH on a VM (or
by a test on a temporary root) needs no environment. getRouterMonitorResults.sh and
getRouterAlerts.sh are sh scripts that first try the answer published for them, then run that
interpreter the same way. The built-in checks are copied from health_scripts/ with the same
binding. Existing files are replaced atomically.
"""

import shlex
import site
import sys
from pathlib import Path

from vrmonitor.health.answer import IDENTITY_FORMAT, MAGIC, sources
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

RESULTS_SCRIPT = f"{CLOUD_BIN}/getRouterMonitorResults.sh"
ALERTS_SCRIPT = f"{CLOUD_BIN}/getRouterAlerts.sh"

# The two scripts the management server polls all day serve their common answer in sh, from
# what Python published (vrmonitor.health.answer, compat.get_router_alerts), when the files it
# was made of are still as they were (GNU stat's line for them); everything else runs the
# Python entry point, as the other scripts do. `command exec` keeps a failed open from ending
# the shell.
SH_HEAD = """#!/bin/sh
# {vm_path}: installed by `vrmonitor compat install`; bound to root {root_comment}.
"""
SH_STAT = "$(LC_ALL=C /usr/bin/stat -L --printf {format} -- {files} 2>/dev/null)"
# Without `true`: the published answer. `read` leaves descriptor 3 just past the first line,
# so cat prints the rest of that same file.
RESULTS_BODY = """if [ "$1" != true ] && [ $# -le 2 ] && {{ [ $# -lt 2 ] || [ "$2" = basic ] || [ "$2" = advanced ]; }} \\
    && {{ command exec 3<{published}; }} 2>/dev/null; then
  if IFS= read -r made <&3; then  # a whole first line
    now={stat}
    [ "$made" = {magic}" $now" ] && exec /bin/cat <&3
  fi
  exec 3<&-
fi
"""
# The timestamp published as answered by `No Alerts`.
ALERTS_BODY = """if [ $# -eq 2 ] && {{ command exec 3<{published}; }} 2>/dev/null; then
  IFS= read -r made <&3 || made=
  exec 3<&-
  now={stat}
  if [ -n "$made" ] && [ "$made" = {magic}" $1 $2|$now" ]; then
    printf '%s\\n' {no_alerts}
    exit 0
  fi
fi
"""
SH_PYTHON = """exec {python} -P -c {code} "$@"
"""

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
    if vm_path in (RESULTS_SCRIPT, ALERTS_SCRIPT):
        return sh_script(vm_path, module, paths, python)
    return TEMPLATE.format(python=python, vm_path=vm_path, root=str(paths.root),
                           path_line=_path_line(), module=module, name=Path(vm_path).name)


def sh_script(vm_path: str, module: str, paths: Paths, python: str) -> str:
    """getRouterMonitorResults.sh or getRouterAlerts.sh: sh serving the published answer, else
    the same Python as every other entry point's (argv: `-c`, then the script's arguments)."""
    from vrmonitor.cloudstack.alert_line import NO_ALERTS
    from vrmonitor.compat.get_router_alerts import QUIET_MAGIC, quiet_files

    name = Path(vm_path).name
    code = (f"import sys\n{_path_line()}from vrmonitor.compat.entry import call\n"
            f"sys.exit(call({module!r}, {name!r}, sys.argv[1:], root={str(paths.root)!r}))\n")
    if vm_path == RESULTS_SCRIPT:
        body, published, magic, files = RESULTS_BODY, paths.results_answer, MAGIC, sources(paths)
    else:
        body, published, magic, files = ALERTS_BODY, paths.quiet_alerts, QUIET_MAGIC, quiet_files(paths)
    stat = SH_STAT.format(format=shlex.quote(IDENTITY_FORMAT),
                          files=" ".join(shlex.quote(file) for file in files))
    return (SH_HEAD.format(vm_path=vm_path, root_comment=str(paths.root).replace("\n", " "))
            + body.format(published=shlex.quote(str(published)), stat=stat,
                          magic=shlex.quote(magic), no_alerts=shlex.quote(NO_ALERTS))
            + SH_PYTHON.format(python=shlex.quote(python), code=shlex.quote(code)))


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
