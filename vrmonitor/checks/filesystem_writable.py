"""filesystem_writable_check.py (/opt/cloud/bin, no argument): the management server's first
call of a health-check fetch (contract 3.7, scenario A12).

statvfs of /root (where the results are written), then of /var/cache/cloud (where the
configuration is kept); the first whose file system is mounted read-only gives its message
and exit 1, else `file system is writable` and exit 0. It runs whatever its arguments. The
management server turns a failure containing `Read-only file system` into exactly that.

A folder that does not exist (the reference crashed) is judged by the file system that would
hold it, its nearest existing parent under the root; any other error is a failure naming the
folder.
"""

import os

from vrmonitor.checks.answer import answer
from vrmonitor.locations import chosen_root, under

# contract path -> what the management server is told when its file system is read-only
FOLDERS = {
    "/root": "Read-only file system : monitor results (/root) file system is mounted as read-only",
    "/var/cache/cloud": ("Read-only file system : config info (/var/cache/cloud) file system "
                         "is mounted as read-only"),
}


def read_only(folder: str, root: str) -> bool:
    """Whether the file system holding `folder` (or its nearest existing parent up to `root`)
    is mounted read-only; both absolute and normalized. OSError other than a missing folder
    goes to the caller."""
    while True:
        try:
            return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            if folder == root or folder == parent:
                raise
            folder = parent


def main(argv: list[str], root: str) -> int:
    # Strings, not Paths: pathlib would cost this check, called before every results fetch,
    # about as much as the interpreter's start.
    top = chosen_root(root)
    for vm_path, message in FOLDERS.items():
        try:
            if read_only(under(top, vm_path), top):
                return answer(message, ok=False)
        except OSError as exc:
            return answer(f"Cannot check the file system of {vm_path}: {exc.strerror or exc}",
                          ok=False)
    return answer("file system is writable", ok=True)
