"""getRouterMonitorResults.sh [true|false] [basic|advanced]: the health results the MS fetches.

`true` runs the checks first (joining a run in progress) and completes before printing. stdout
is contract 3.6's structure, with the result files printed verbatim (the reference's
`echo $(cat ...)` collapsed whitespace inside messages).
"""

import sys

from vrmonitor.paths import Paths

NAME = "getRouterMonitorResults.sh"
KINDS = ("basic", "advanced")


def fetch_output(paths: Paths) -> str:
    lines = ["FAILING CHECKS:"]
    for kind in KINDS:
        failing = _read(paths.failing_file(kind))
        if failing is not None:
            lines.append(failing.rstrip("\n"))
    lines.append("MONITOR RESULTS:")
    for prefix, kind in (('{"basic":', "basic"), (',"advanced":', "advanced")):
        lines.append(prefix)
        document = _read(paths.results_file(kind))
        lines.append(document.rstrip("\n") if document else "{}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str], root: str) -> int:
    from vrmonitor.health.entry import engine_for, run_kinds

    paths = Paths.from_option(root)
    kinds = KINDS
    if len(argv) > 1:
        if argv[1] in KINDS:
            kinds = (argv[1],)
        else:
            print(f"{NAME}: unknown kind {argv[1]!r} (expected basic or advanced); using both",
                  file=sys.stderr)
    if argv and argv[0] == "true":
        run_kinds(engine_for(paths, NAME), kinds, NAME)
    sys.stdout.write(fetch_output(paths))
    return 0


def _read(path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
