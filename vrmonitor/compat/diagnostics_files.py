"""/opt/cloud/bin/get_diagnostics_files.py ITEM...: getDiagnosticsData step 1 (contract 5.2).

Builds `<root>/root/diagnostics_files_YYYYmmdd-HHMMSS[-N].zip` from the items
(vrmonitor.diagnostics.collect describes them), within the [diagnostics] bounds of
vrmonitor.toml, and prints exactly its path and a newline; exit 0. The MS takes that line
as the path to copy and later passes it to cleanup.sh. When the zip cannot be written at
all, one line on stderr and exit 1, so the MS reports
`Failed to generate diagnostics zip file in VM ...` with the reason.
"""

import sys

from vrmonitor.paths import Paths

NAME = "get_diagnostics_files.py"


def main(argv: list[str], root: str) -> int:
    from vrmonitor.compat.diagnostics import settings_for
    from vrmonitor.diagnostics.collect import collect

    paths = Paths.from_option(root)
    try:
        path = collect(paths, argv, limits=settings_for(paths))
    except OSError as exc:
        print(f"{NAME}: cannot write the diagnostics zip: {exc.strerror or exc}"
              f"{f' ({exc.filename})' if exc.filename else ''}", file=sys.stderr)
        return 1
    sys.stdout.write(f"{path}\n")
    return 0
