"""/opt/cloud/bin/cleanup.sh ZIP: getDiagnosticsData step 3 (contract 5.3, scenario A20).

Deletes a zip made by get_diagnostics_files.py:
- present: prints `Deleting diagnostics zip file <ZIP>`, deletes it, exit 0;
- absent: prints `File <ZIP> not found in vm ` (trailing space, as the reference), exit 0.

Unlike the reference (`rm -rf "$1"`), it deletes nothing else: ZIP must be
`/root/diagnostics_files_YYYYmmdd-HHMMSS[-N].zip` as a VM path, or that file's real path under
the root (what get_diagnostics_files.py printed; the same on a VM), and what stands there must
be a regular file (a symlink or a folder of that name is left alone). Anything else — another
folder, another name, `..`, a second argument — is refused: nothing deleted, one line on stderr,
exit 1, since the MS only ever passes back the path the collection printed.
"""

import os
import re
import stat
import sys

from vrmonitor.paths import VM_HOME, Paths

NAME = "cleanup.sh"
ZIP_NAME = re.compile(r"diagnostics_files_[A-Za-z0-9_.\-]+\.zip")
EXIT_REFUSED = 1


def main(argv: list[str], root: str) -> int:
    paths = Paths.from_option(root)
    if len(argv) != 1:
        print(f"{NAME}: usage: cleanup.sh /root/diagnostics_files_YYYYmmdd-HHMMSS.zip",
              file=sys.stderr)
        return EXIT_REFUSED
    given = argv[0]
    target = zip_location(paths, given)
    if target is None:
        return _refuse(given, "not a diagnostics zip in /root")
    try:
        status = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        sys.stdout.write(f"File {given} not found in vm \n")
        return 0
    if not stat.S_ISREG(status.st_mode):
        return _refuse(given, "not a regular file")
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass  # removed meanwhile: what was asked is done
    except OSError as exc:
        print(f"{NAME}: cannot delete {given}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    sys.stdout.write(f"Deleting diagnostics zip file {given}\n")
    return 0


def zip_location(paths: Paths, given: str):
    """Where `given` is when it names a diagnostics zip directly in /root, else None."""
    folder, slash, name = given.rpartition("/")
    if not slash or not ZIP_NAME.fullmatch(name):
        return None
    home = paths.under(VM_HOME)
    if folder in (VM_HOME, str(home)):
        return home / name
    return None


def _refuse(given: str, why: str) -> int:
    print(f"{NAME}: refusing to delete {given!r}: {why}", file=sys.stderr)
    return EXIT_REFUSED
